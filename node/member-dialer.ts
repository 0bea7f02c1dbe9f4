/**
 * Keeps a daemon connected to the members of its trees: every round it dials
 * each member it has no connection with, over every transport that has a
 * hint for it (iroh: `iroh:HOST:PORT` addresses from tickets, peer exchange
 * and the persisted address book; Hyperswarm: the node id itself), and hands
 * each new connection to the engine. A member that cannot be reached is
 * retried with exponential backoff (1 s doubling to 60 s, with jitter from
 * the runtime), reset once a round sees its connection live, so a restarted
 * peer or a network change is repaired by itself, while a node whose
 * connections are dropped at once (a member revoked there) keeps backing off.
 *
 * With `connectedOver`, a member is kept connected over EVERY transport that
 * can reach it, not just one: the engine sends chunks over a Hyperswarm
 * connection when one exists (iroh's JS binding is the slow path for bulk,
 * DESIGN.md), so an iroh connection alone must not stop the Hyperswarm dial.
 */
import type { Runtime } from '../sync/runtime.js'
import type { Connection, PeerAddress, Transport, TransportKind } from '../sync/transport/types.js'

const ROUND_MS = 1000
const MIN_BACKOFF_MS = 1000
const MAX_BACKOFF_MS = 60_000

export interface MemberDialerOptions {
  nodeId: string
  runtime: Runtime
  transports: () => Transport[]
  /** Members of every replicated tree (other than this node), deduplicated. */
  wanted: () => Iterable<string>
  /** Nodes with a live connection now. */
  connected: () => Set<string>
  /**
   * Transports with a live connection to each node now. When given, every
   * transport able to reach a member is dialled until it has a connection
   * over each (backoff per node and transport), and every one is attached.
   */
  connectedOver?: () => Map<string, Set<TransportKind>>
  /** Known dial hints of a node. */
  addresses: (node: string) => string[]
  attach: (conn: Connection) => void
  log: (line: string) => void
}

interface Backoff {
  next: number
  delay: number
}

export class MemberDialer {
  private timer: { cancel(): void } | undefined
  private readonly inflight = new Set<string>()
  private readonly backoff = new Map<string, Backoff>()
  private closed = false

  constructor(private readonly o: MemberDialerOptions) {}

  start(): void {
    this.schedule(0)
  }

  /** Dial now (e.g. after a tree was added or a peer learned), without waiting for the round. */
  poke(): void {
    if (this.closed) return
    this.timer?.cancel()
    this.schedule(0)
  }

  close(): void {
    this.closed = true
    this.timer?.cancel()
  }

  private schedule(ms: number): void {
    if (this.closed) return
    this.timer = this.o.runtime.timers.setTimeout(() => {
      this.round()
      this.schedule(ROUND_MS)
    }, ms)
  }

  private round(): void {
    const now = this.o.runtime.clock.now()
    const connected = this.o.connected()
    const over = this.o.connectedOver?.()
    for (const node of this.o.wanted()) {
      if (node === this.o.nodeId) continue
      if (over) {
        this.roundEach(node, over.get(node), now)
        continue
      }
      if (this.inflight.has(node)) continue
      if (connected.has(node)) {
        this.backoff.delete(node)
        continue
      }
      const b = this.backoff.get(node)
      if (b && now < b.next) continue
      void this.dial(node)
    }
  }

  /** One transport at a time: each that can reach `node` and has no connection to it. */
  private roundEach(node: string, live: Set<TransportKind> | undefined, now: number): void {
    const addrs = this.o.addresses(node)
    for (const t of this.o.transports()) {
      const key = `${node}/${t.kind}`
      if (live?.has(t.kind)) {
        this.backoff.delete(key)
        continue
      }
      if (this.inflight.has(key) || (t.kind === 'iroh' && !addrs.some((a) => a.startsWith('iroh:')))) continue
      const b = this.backoff.get(key)
      if (b && now < b.next) continue
      // Quiet when another transport reaches the node: only a node reachable over nothing is news.
      void this.dialOne(node, t, addrs, key, (live?.size ?? 0) === 0)
    }
  }

  private async dialOne(
    node: string,
    t: Transport,
    addrs: string[],
    key: string,
    loud: boolean,
  ): Promise<void> {
    this.inflight.add(key)
    try {
      const conn = await t.dial({ node, addrs })
      if (this.closed) {
        conn.close('node shutting down')
        return
      }
      // The backoff is cleared only once a round sees the connection live: a node the
      // engine refuses (e.g. revoked from the tree) connects fine and is dropped at once,
      // and must not be redialled every round.
      this.backOff(key, undefined)
      this.o.attach(conn)
    } catch (e) {
      this.backOff(
        key,
        loud ? `cannot reach ${node.slice(0, 8)} over ${t.kind} yet (${reason(e)})` : undefined,
      )
    } finally {
      this.inflight.delete(key)
    }
  }

  private backOff(key: string, say: string | undefined): void {
    const prev = this.backoff.get(key)?.delay ?? 0
    const delay = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, prev * 2))
    const jitter = (this.o.runtime.random.bytes(1)[0]! / 255) * 0.25 * delay
    this.backoff.set(key, { next: this.o.runtime.clock.now() + delay + jitter, delay })
    if (!prev && say) this.o.log(`${say}; retrying with backoff`)
  }

  private async dial(node: string): Promise<void> {
    this.inflight.add(node)
    const peer: PeerAddress = { node, addrs: this.o.addresses(node) }
    const candidates = this.o
      .transports()
      .filter((t) => t.kind !== 'iroh' || peer.addrs.some((a) => a.startsWith('iroh:')))
    try {
      if (candidates.length === 0) throw new Error('no address known')
      const dials = candidates.map((t) => t.dial(peer))
      const conn = await Promise.any(dials)
      // A connection that lost the race would stay open unused: close it.
      for (const d of dials)
        d.then(
          (c) => c !== conn && c.close('duplicate'),
          () => {},
        )
      if (this.closed) {
        conn.close('node shutting down')
        return
      }
      this.backOff(node, undefined) // cleared once a round sees it live (see dialOne)
      this.o.attach(conn)
    } catch (e) {
      const first = !this.backoff.has(node)
      this.backOff(node, first ? `cannot reach ${node.slice(0, 8)} yet (${reason(e)})` : undefined)
    } finally {
      this.inflight.delete(node)
    }
  }
}

function reason(e: unknown): string {
  if (e instanceof AggregateError) return e.errors.map(reason).join('; ')
  return (e instanceof Error ? e.message : String(e)).split('\n', 1)[0]!
}
