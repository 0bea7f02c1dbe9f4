/**
 * Simulated transports: a `Transport`/`Connection` per node whose frames
 * cross the lossy datagram network of links.ts through a small reliable
 * stream layer (sequence numbers, cumulative acks, retransmission with an
 * adaptive timeout, duplicate suppression, a reorder buffer, keepalives and
 * an idle timeout). Loss, duplication and reordering therefore reach the
 * replication code the way they do on a real network: as delay, and as a
 * closed connection (to be redialled) when a partition or a crash lasts.
 */
import type { Connection, PeerAddress, Transport } from '../sync/transport/types.js'
import { type Datagram, HEADER_BYTES, type LinkNetwork } from './links.js'
import type { Rng } from './rng.js'
import type { Cancel, Scheduler } from './scheduler.js'
import { SimConnection, type StreamHost } from './stream.js'

/** Timeouts and windows of the stream layer (virtual ms / bytes). */
export interface StreamOptions {
  /** A dial fails when the remote has not answered after this long. */
  dialTimeoutMs: number
  /** A connection that heard nothing from the remote for this long closes ('timed out'). */
  idleTimeoutMs: number
  /** An idle connection sends a keepalive this often. */
  keepaliveMs: number
  /** Unacknowledged bytes in flight before `send` waits. */
  windowBytes: number
  /** Unacknowledged frames in flight before `send` waits. */
  windowFrames: number
  minRtoMs: number
  maxRtoMs: number
  /** Undelivered bytes a receiver without a frame listener buffers before it stops accepting. */
  receiveBufferBytes: number
}

export const DEFAULT_STREAM: StreamOptions = {
  dialTimeoutMs: 5_000,
  idleTimeoutMs: 20_000,
  keepaliveMs: 5_000,
  windowBytes: 1 << 20,
  windowFrames: 256,
  minRtoMs: 30,
  maxRtoMs: 4_000,
  receiveBufferBytes: 4 << 20,
}

/** Counters of the stream layer, summed over every connection of a network. */
export interface StreamCounters {
  framesSent: number
  framesDelivered: number
  frameBytes: number
  retransmits: number
  dials: number
  dialFailures: number
  opened: number
  timeouts: number
  resets: number
}

/** The dial hint of a simulated node. */
export function simAddress(node: string): string {
  return `sim:${node}`
}

/** Shared state of all simulated transports on one datagram network. */
export class SimNet {
  readonly counters: StreamCounters = {
    framesSent: 0,
    framesDelivered: 0,
    frameBytes: 0,
    retransmits: 0,
    dials: 0,
    dialFailures: 0,
    opened: 0,
    timeouts: 0,
    resets: 0,
  }
  readonly opts: StreamOptions

  constructor(
    readonly sched: Scheduler,
    readonly links: LinkNetwork,
    opts: Partial<StreamOptions> = {},
  ) {
    this.opts = { ...DEFAULT_STREAM, ...opts }
  }

  /** A transport for one incarnation of `node` (attaches it to the network). */
  transport(node: string, rng: Rng): SimTransport {
    const t = new SimTransport(this, node, rng)
    this.links.attach(node, t.endpoint)
    return t
  }
}

export class SimTransport implements Transport, StreamHost {
  readonly kind = 'memory' as const
  private readonly conns = new Map<string, SimConnection>()
  private listener: ((c: Connection) => void) | undefined
  private dialCount = 0
  private readonly tag: string
  private down = false
  /** This transport's receiver on the datagram network. */
  readonly endpoint = (d: Datagram) => this.receive(d)

  constructor(
    readonly net: SimNet,
    readonly nodeId: string,
    rng: Rng,
  ) {
    this.tag = hex(rng.bytes(4))
  }

  get opts(): StreamOptions {
    return this.net.opts
  }

  get counters(): StreamCounters {
    return this.net.counters
  }

  addresses(): string[] {
    return [simAddress(this.nodeId)]
  }

  /** Live connections of this transport. */
  connections(): SimConnection[] {
    return [...this.conns.values()].filter((c) => !c.closed)
  }

  dial(peer: PeerAddress): Promise<Connection> {
    if (this.down) return Promise.reject(new Error('transport closed'))
    if (peer.node === this.nodeId) return Promise.reject(new Error('cannot dial self'))
    this.net.counters.dials++
    const id = `${this.nodeId.slice(0, 8)}.${this.tag}.${++this.dialCount}`
    const conn = new SimConnection(this, id, peer.node, true)
    this.conns.set(id, conn)
    return conn.opened()
  }

  onConnection(listener: (conn: Connection) => void): void {
    this.listener = listener
  }

  async close(): Promise<void> {
    if (this.down) return
    for (const c of [...this.conns.values()]) c.close('transport closed')
    this.down = true
    this.net.links.detach(this.nodeId, this.endpoint)
  }

  /** A crash: every connection vanishes without a word to the remote, and no listener hears of it. */
  kill(): void {
    this.down = true
    for (const c of this.conns.values()) c.vanish()
    this.conns.clear()
    this.net.links.detach(this.nodeId, this.endpoint)
  }

  /** A datagram from the network. */
  receive(d: Datagram): void {
    if (this.down) return
    const c = this.conns.get(d.conn)
    if (c) {
      if (d.from !== c.remoteId) return
      c.receive(d)
      return
    }
    if (d.kind === 'syn') {
      if (!this.listener) {
        this.emit({ ...blank(d.to, d.from, d.conn), kind: 'rst', reason: 'not listening' })
        return
      }
      const conn = new SimConnection(this, d.conn, d.from, false)
      this.conns.set(d.conn, conn)
      conn.receive(d)
      this.net.counters.opened++
      this.listener(conn)
      return
    }
    // Stale datagram of a connection this incarnation does not know (e.g. after a restart).
    if (d.kind !== 'rst' && d.kind !== 'fin') {
      this.emit({ ...blank(this.nodeId, d.from, d.conn), kind: 'rst', reason: 'unknown connection' })
    }
  }

  /** Forget a closed connection. */
  forget(id: string): void {
    this.conns.delete(id)
  }

  emit(d: Datagram): void {
    this.net.links.send(d)
  }

  timer(ms: number, fn: () => void): Cancel {
    return this.net.sched.schedule(ms, 'stream-timer', this.nodeId, fn)
  }

  now(): number {
    return this.net.sched.now()
  }
}

function blank(from: string, to: string, conn: string): Datagram {
  return { from, to, conn, kind: 'ping', seq: 0, ack: 0, bytes: HEADER_BYTES }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}
