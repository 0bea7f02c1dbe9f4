/**
 * Ambient types for `hyperswarm` 4.x and `hyperdht` 6.x (untyped CommonJS):
 * only what sync/transport/hyperswarm.ts, the testnet helper and the raw
 * benchmark use.
 */
declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'

  export interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }

  /** The Noise-encrypted duplex stream of a connection (a streamx Duplex). */
  export interface NoiseSocket extends Duplex {
    readonly remotePublicKey: Buffer
    readonly publicKey: Buffer
    readonly isInitiator: boolean
    /**
     * Plaintext memory of `len` bytes inside the next encrypted message: written as
     * this very buffer (and before another alloc), it is encrypted in place, not copied.
     */
    alloc(len: number): Buffer
  }

  export interface DHTOptions {
    bootstrap?: { host: string; port: number }[] | string[]
    host?: string
    port?: number
    ephemeral?: boolean
    firewalled?: boolean
  }

  export interface DHTServer extends EventEmitter {
    listen(keyPair?: KeyPair): Promise<void>
    close(): Promise<void>
    address(): { host: string; port: number; publicKey: Buffer } | null
  }

  export default class DHT extends EventEmitter {
    constructor(opts?: DHTOptions)
    static keyPair(seed?: Buffer | Uint8Array): KeyPair
    readonly listening: Set<DHTServer>
    readonly destroyed: boolean
    ready(): Promise<void>
    fullyBootstrapped(): Promise<void>
    address(): { host: string; port: number }
    connect(publicKey: Buffer, opts?: { keyPair?: KeyPair }): NoiseSocket
    createServer(opts?: object, onconnection?: (socket: NoiseSocket) => void): DHTServer
    destroy(opts?: { force?: boolean }): Promise<void>
  }
}

declare module 'hyperdht/testnet.js' {
  import type DHT from 'hyperdht'

  export interface Testnet {
    nodes: DHT[]
    bootstrap: { host: string; port: number }[]
    createNode(opts?: object): DHT
    destroy(): Promise<void>
  }

  export default function createTestnet(
    size?: number,
    opts?: { host?: string; port?: number },
  ): Promise<Testnet>
}

declare module 'hyperswarm' {
  import type { EventEmitter } from 'node:events'
  import type DHT from 'hyperdht'
  import type { KeyPair, NoiseSocket } from 'hyperdht'

  export interface PeerInfo {
    publicKey: Buffer
    topics: Buffer[]
    prioritized: boolean
    ban(status?: boolean): void
  }

  export interface PeerDiscovery {
    flushed(): Promise<void>
    refresh(opts?: { client?: boolean; server?: boolean }): Promise<void>
    destroy(): Promise<void>
  }

  export interface SwarmOptions {
    keyPair?: KeyPair
    seed?: Buffer
    maxPeers?: number
    firewall?: (remotePublicKey: Buffer) => boolean
    dht?: DHT
  }

  export default class Hyperswarm extends EventEmitter {
    constructor(opts?: SwarmOptions)
    readonly keyPair: KeyPair
    readonly dht: DHT
    readonly connections: Set<NoiseSocket>
    readonly peers: Map<string, PeerInfo>
    readonly destroyed: boolean
    listen(): Promise<void>
    join(topic: Buffer, opts?: { server?: boolean; client?: boolean; limit?: number }): PeerDiscovery
    leave(topic: Buffer): Promise<void>
    joinPeer(publicKey: Buffer): void
    leavePeer(publicKey: Buffer): void
    flush(): Promise<boolean>
    destroy(opts?: { force?: boolean }): Promise<void>
    on(event: 'connection', listener: (socket: NoiseSocket, info: PeerInfo) => void): this
    on(event: 'update', listener: () => void): this
    on(event: string, listener: (...args: unknown[]) => void): this
  }
}
