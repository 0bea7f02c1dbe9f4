/** Ambient types for `multicast-dns` 7.x (untyped CommonJS): what sync/peers/mdns.ts uses. */
declare module 'multicast-dns' {
  import type { EventEmitter } from 'node:events'

  namespace mdns {
    interface Options {
      multicast?: boolean
      interface?: string
      bind?: string | false
      port?: number
      ip?: string
      ttl?: number
      loopback?: boolean
      reuseAddr?: boolean
    }
    interface Question {
      name: string
      type: string
      class?: string | number
    }
    interface Answer {
      name: string
      type: string
      ttl?: number
      class?: string
      flush?: boolean
      data?: unknown
    }
    interface QueryPacket {
      questions: Question[]
    }
    interface ResponsePacket {
      answers: Answer[]
      additionals?: Answer[]
    }
    interface RemoteInfo {
      address: string
      port: number
      family: string
    }
    interface MulticastDNS extends EventEmitter {
      query(packet: QueryPacket, cb?: (err: Error | null) => void): void
      respond(packet: ResponsePacket, cb?: (err: Error | null) => void): void
      destroy(cb?: () => void): void
      on(event: 'query', listener: (packet: QueryPacket, rinfo: RemoteInfo) => void): this
      on(event: 'response', listener: (packet: ResponsePacket, rinfo: RemoteInfo) => void): this
      on(event: 'ready', listener: () => void): this
      on(event: 'error' | 'warning', listener: (err: Error) => void): this
      once(event: 'ready', listener: () => void): this
      once(event: 'error', listener: (err: Error) => void): this
    }
  }
  function mdns(opts?: mdns.Options): mdns.MulticastDNS
  export = mdns
}
