/**
 * In-memory connections and a network of in-memory transports, for tests of
 * the engine, the codec and the peer manager. Deterministic: frames and
 * closes are delivered in order on microtasks (no timers at all), or after
 * `delayMs` through injected `Timers` (a ManualRuntime's, in replayable
 * tests). Send credit models a stream's window: a side may have `window`
 * bytes sent and not yet taken by the remote's frame listener before `send`
 * waits, so a sender awaiting each send stays bounded even when the remote
 * has not set a listener yet.
 */
import type { Timers } from '../runtime.js'
import { BaseConnection, ConnectionClosedError } from './base-connection.js'
import type { Connection, PeerAddress, Transport } from './types.js'

export interface MemoryLinkOptions {
  /** Timers for delayed delivery; required when `delayMs` > 0. */
  timers?: Timers
  /** One-way delay of every frame, close and dial, ms (default 0: delivered on a microtask). */
  delayMs?: number
  /** Bytes in flight per direction before `send` waits (default 1 MiB). */
  window?: number
}

const DEFAULT_WINDOW = 1024 * 1024

/** Runs callbacks in order: on microtasks, or after a fixed delay on injected timers. */
class Scheduler {
  readonly window: number
  constructor(private readonly opts: MemoryLinkOptions) {
    this.window = opts.window ?? DEFAULT_WINDOW
    if (!(this.window > 0)) throw new RangeError('window must be positive')
    if ((opts.delayMs ?? 0) > 0 && !opts.timers) throw new TypeError('delayMs needs timers')
  }

  later(fn: () => void): void {
    const delay = this.opts.delayMs ?? 0
    if (delay > 0) this.opts.timers!.setTimeout(fn, delay)
    else queueMicrotask(fn)
  }
}

interface Waiter {
  upTo: number
  resolve: () => void
  reject: (e: Error) => void
}

class MemoryConnection extends BaseConnection {
  peer!: MemoryConnection
  private sentTotal = 0
  private takenByPeer = 0
  private readonly waiters: Waiter[] = []

  constructor(
    remoteId: string,
    initiator: boolean,
    private readonly sched: Scheduler,
  ) {
    super(remoteId, 'memory', initiator)
  }

  protected write(frame: Uint8Array): Promise<void> {
    // A copy: the sender may reuse its buffer once send resolves, as with a socket.
    const copy = frame.slice()
    this.sentTotal += copy.length
    const upTo = this.sentTotal
    this.sched.later(() => this.peer.deliver(copy))
    if (upTo - this.takenByPeer <= this.sched.window) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ upTo, resolve, reject }))
  }

  protected override taken(bytes: number): void {
    this.peer.credit(bytes)
  }

  private credit(bytes: number): void {
    this.takenByPeer += bytes
    while (this.waiters.length > 0 && this.waiters[0]!.upTo - this.takenByPeer <= this.sched.window)
      this.waiters.shift()!.resolve()
  }

  protected shutdown(reason: string): void {
    this.failWaiters(reason)
    // Behind the frames already sent, as a stream's close would be.
    this.sched.later(() => this.peer.remoteEnded(reason))
  }

  private remoteEnded(reason: string): void {
    this.ended(reason)
    this.failWaiters(reason)
  }

  /** The link broke: both ends see it at once, neither as a local close. */
  sever(reason: string): void {
    this.remoteEnded(reason)
    this.peer.remoteEnded(reason)
  }

  private failWaiters(reason: string): void {
    const err = new ConnectionClosedError(reason)
    for (const w of this.waiters.splice(0)) w.reject(err)
  }
}

/**
 * Two connected in-memory connections: `[a, b]`, `a` the initiator (its
 * `remoteId` is `bId`), `b` the acceptor.
 */
export function memoryPair(aId: string, bId: string, opts: MemoryLinkOptions = {}): [Connection, Connection] {
  const [a, b] = linkedPair(aId, bId, new Scheduler(opts))
  return [a, b]
}

function linkedPair(aId: string, bId: string, sched: Scheduler): [MemoryConnection, MemoryConnection] {
  const a = new MemoryConnection(bId, true, sched)
  const b = new MemoryConnection(aId, false, sched)
  a.peer = b
  b.peer = a
  return [a, b]
}

/**
 * Nodes that can dial each other by node id (dial hints are ignored), plus
 * the failures a test needs: `cut` breaks links as a network failure would,
 * `setReachable(node, false)` takes a node off the network.
 */
export class MemoryNetwork {
  private readonly nodes = new Map<string, MemoryTransport>()
  private readonly unreachable = new Set<string>()
  /** @internal */
  readonly sched: Scheduler

  constructor(opts: MemoryLinkOptions = {}) {
    this.sched = new Scheduler(opts)
  }

  /** The transport of `nodeId` (a new one after the previous was closed: a restart). */
  transport(nodeId: string): MemoryTransport {
    const existing = this.nodes.get(nodeId)
    if (existing && !existing.isClosed)
      throw new Error(`memory: node ${nodeId} already has an open transport`)
    const t = new MemoryTransport(this, nodeId)
    this.nodes.set(nodeId, t)
    return t
  }

  /** Break every connection of `a` (only those to `b`, if given); both ends see a non-local close. */
  cut(a: string, b?: string, reason = 'network failure'): void {
    const t = this.nodes.get(a)
    if (!t) return
    for (const c of t.live()) if (b === undefined || c.remoteId === b) c.sever(reason)
  }

  /** Take a node off the network (its links break, dials to and from it fail) or put it back. */
  setReachable(node: string, reachable: boolean): void {
    if (reachable) {
      this.unreachable.delete(node)
      return
    }
    this.unreachable.add(node)
    this.cut(node, undefined, 'network unreachable')
  }

  /** Open connections of a node (both directions). */
  connections(node: string): Connection[] {
    return [...(this.nodes.get(node)?.live() ?? [])]
  }

  /** @internal The transport a dial from `from` to `to` reaches, if any. */
  route(from: string, to: string): MemoryTransport | undefined {
    if (this.unreachable.has(from) || this.unreachable.has(to)) return undefined
    const t = this.nodes.get(to)
    return t && !t.isClosed && t.listening ? t : undefined
  }
}

export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const
  private listener: ((conn: Connection) => void) | undefined
  private readonly conns = new Set<MemoryConnection>()
  private closedFlag = false

  constructor(
    private readonly net: MemoryNetwork,
    readonly nodeId: string,
  ) {}

  get isClosed(): boolean {
    return this.closedFlag
  }

  get listening(): boolean {
    return this.listener !== undefined
  }

  addresses(): string[] {
    return [`memory:${this.nodeId}`]
  }

  dial(peer: PeerAddress): Promise<Connection> {
    if (this.closedFlag) return Promise.reject(new Error('memory: transport closed'))
    if (peer.node === this.nodeId) return Promise.reject(new Error('memory: cannot dial self'))
    return new Promise((resolve, reject) => {
      this.net.sched.later(() => {
        const target = this.net.route(this.nodeId, peer.node)
        if (this.closedFlag) return reject(new Error('memory: transport closed'))
        if (!target) return reject(new Error(`memory: node ${peer.node} unreachable`))
        const [a, b] = linkedPair(this.nodeId, peer.node, this.net.sched)
        this.track(a)
        try {
          target.accept(b)
        } catch (e) {
          b.close(`connection listener failed: ${e instanceof Error ? e.message : String(e)}`)
        }
        resolve(a)
      })
    })
  }

  onConnection(listener: (conn: Connection) => void): void {
    this.listener = listener
  }

  async close(): Promise<void> {
    if (this.closedFlag) return
    this.closedFlag = true
    for (const c of [...this.conns]) c.close('transport closed')
  }

  /** @internal */
  live(): MemoryConnection[] {
    return [...this.conns].filter((c) => !c.closed)
  }

  private accept(conn: MemoryConnection): void {
    this.track(conn)
    this.listener!(conn)
  }

  private track(conn: MemoryConnection): void {
    this.conns.add(conn)
    conn.onClose(() => this.conns.delete(conn))
  }
}
