/**
 * The simulated datagram network: per directed link latency with jitter,
 * bandwidth (a link sends one datagram after another), loss, duplication,
 * reordering, and partitions. It carries the datagrams of the reliable
 * stream layer (net.ts); it never guarantees anything itself.
 */
import type { Rng } from './rng.js'
import type { Scheduler } from './scheduler.js'

/** Behaviour of every link (one direction between two nodes). */
export interface LinkSpec {
  /** One-way delay range, ms (uniform between the two: the jitter). */
  latencyMin: number
  latencyMax: number
  /** Bytes per second a link carries (serialization delay). */
  bandwidth: number
  /** Probability a datagram is dropped. */
  loss: number
  /** Probability a datagram is delivered twice. */
  dup: number
  /** Probability a datagram is held back (up to 3x the max latency more), overtaken by later ones. */
  reorder: number
}

export const DEFAULT_LINK: LinkSpec = {
  latencyMin: 5,
  latencyMax: 50,
  bandwidth: 12.5e6,
  loss: 0,
  dup: 0,
  reorder: 0,
}

/** One datagram of the stream layer. `bytes` is its size on the wire. */
export interface Datagram {
  from: string
  to: string
  /** Connection id (chosen by the dialler). */
  conn: string
  kind: 'syn' | 'synack' | 'data' | 'ack' | 'fin' | 'rst' | 'ping'
  seq: number
  ack: number
  payload?: Uint8Array
  /** Hex digest of the payload (computed once per frame, hashed into the trace). */
  digest?: string
  reason?: string
  bytes: number
}

/** Per-datagram header overhead counted on the wire. */
export const HEADER_BYTES = 40

export interface NetCounters {
  datagrams: number
  delivered: number
  dropped: number
  duplicated: number
  /** Datagrams held back so later ones overtake them. */
  reordered: number
  bytes: number
}

type Receiver = (d: Datagram) => void

export class LinkNetwork {
  readonly counters: NetCounters = {
    datagrams: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    bytes: 0,
  }
  private readonly endpoints = new Map<string, Receiver>()
  /** from -> to -> virtual time the link is busy until (nested: no key string per datagram). */
  private readonly busyUntil = new Map<string, Map<string, number>>()
  /** node -> partition group; nodes in different groups cannot talk. Empty: no partition. */
  private group = new Map<string, number>()
  /** Nodes cut off from everyone (an offline editing burst), independent of partitions. */
  private readonly isolated = new Set<string>()
  /** Bytes sent per bucket of virtual time (for the report's message volume). */
  readonly volume: number[] = []
  bucketMs = 1000

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Rng,
    public spec: LinkSpec,
  ) {}

  /** Start receiving datagrams for `node` (replaces a previous incarnation). */
  attach(node: string, receive: Receiver): void {
    this.endpoints.set(node, receive)
  }

  /**
   * Stop receiving: datagrams in flight to `node` are lost (a crashed or
   * stopped node). With `receive`, only if that is still the attached endpoint
   * (a late close of an old incarnation must not cut off the new one).
   */
  detach(node: string, receive?: Receiver): void {
    if (receive === undefined || this.endpoints.get(node) === receive) this.endpoints.delete(node)
  }

  isUp(node: string): boolean {
    return this.endpoints.has(node)
  }

  /** Split the network: nodes in different groups cannot reach each other. Unlisted nodes form one more group. */
  partition(groups: string[][]): void {
    this.group = new Map()
    groups.forEach((g, i) => {
      for (const n of g) this.group.set(n, i + 1)
    })
  }

  heal(): void {
    this.group = new Map()
  }

  get partitioned(): boolean {
    return this.group.size > 0
  }

  canReach(a: string, b: string): boolean {
    if (this.isolated.has(a) || this.isolated.has(b)) return false
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0)
  }

  /** Cut one node off (true) or reconnect it (false). */
  isolate(node: string, on: boolean): void {
    if (on) this.isolated.add(node)
    else this.isolated.delete(node)
  }

  /** Reconnect every isolated node. */
  rejoinAll(): void {
    this.isolated.clear()
  }

  /** Put a datagram on the link from `d.from` to `d.to`. */
  send(d: Datagram): void {
    const s = this.spec
    const c = this.counters
    c.datagrams++
    c.bytes += d.bytes
    const bucket = Math.floor(this.sched.elapsed() / this.bucketMs)
    this.volume[bucket] = (this.volume[bucket] ?? 0) + d.bytes
    if (!this.canReach(d.from, d.to) || this.rng.chance(s.loss)) {
      c.dropped++
      return
    }
    let busy = this.busyUntil.get(d.from)
    if (!busy) {
      busy = new Map()
      this.busyUntil.set(d.from, busy)
    }
    const now = this.sched.now()
    const departs = Math.max(now, busy.get(d.to) ?? 0) + (d.bytes * 1000) / s.bandwidth
    busy.set(d.to, departs)
    const copies = this.rng.chance(s.dup) ? 2 : 1
    if (copies === 2) c.duplicated++
    for (let i = 0; i < copies; i++) {
      let delay = departs - now + s.latencyMin + this.rng.float() * (s.latencyMax - s.latencyMin)
      if (this.rng.chance(s.reorder)) {
        c.reordered++
        delay += this.rng.float() * 3 * Math.max(1, s.latencyMax)
      }
      this.sched.schedule(
        delay,
        `dg-${d.kind}`,
        d.to,
        () => this.deliver(d),
        `${d.from.slice(0, 12)}:${d.conn}:${d.seq}:${d.ack}:${d.digest ?? ''}`,
      )
    }
  }

  private deliver(d: Datagram): void {
    const r = this.endpoints.get(d.to)
    if (!r) {
      this.counters.dropped++
      return
    }
    this.counters.delivered++
    r(d)
  }
}
