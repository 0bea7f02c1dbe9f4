/**
 * The engine's state for one replicated tree: the replica, its live
 * channels (in the order they opened), shards with local or forwarded
 * changes waiting for the coalesced gossip flush, byte counters and rates.
 */
import type { Runtime } from '../runtime.js'
import type { Channel } from './channel.js'
import type { ChunkFetcher } from './chunk-fetcher.js'
import type { ReplicaTree } from './types.js'

/** Rates are averaged over this window. */
export const RATE_WINDOW_MS = 5000
const BUCKET_MS = 1000

/** Bytes per second over the last RATE_WINDOW_MS, in 1-s buckets of the runtime clock. */
export class RateMeter {
  private readonly buckets = new Map<number, number>()
  constructor(private readonly clock: () => number) {}

  add(bytes: number): void {
    const b = Math.floor(this.clock() / BUCKET_MS)
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + bytes)
    if (this.buckets.size > RATE_WINDOW_MS / BUCKET_MS + 2) this.prune(b)
  }

  rate(): number {
    const now = Math.floor(this.clock() / BUCKET_MS)
    this.prune(now)
    let sum = 0
    for (const [b, n] of this.buckets) if (b > now - RATE_WINDOW_MS / BUCKET_MS) sum += n
    return sum / (RATE_WINDOW_MS / 1000)
  }

  private prune(now: number): void {
    for (const b of [...this.buckets.keys()])
      if (b <= now - RATE_WINDOW_MS / BUCKET_MS) this.buckets.delete(b)
  }
}

export class TreeEntry {
  /** Live and pending channels of this tree, all links. */
  readonly channels = new Set<Channel>()
  /** Shards to push to every live channel at the next flush. */
  readonly dirty = new Set<number>()
  flushTimer: { cancel(): void } | undefined
  membersTimer: { cancel(): void } | undefined
  antiEntropyTimer: { cancel(): void } | undefined
  /** The node whose sync message is being applied (for 'remote-change' events). */
  applyingFrom: string | undefined
  bytesIn = 0
  bytesOut = 0
  chunksReceived = 0
  lastActivity: number | undefined
  readonly rateIn: RateMeter
  readonly rateOut: RateMeter
  readonly unsubscribe: (() => void)[] = []
  fetcher!: ChunkFetcher
  /** Schedules the gossip flush of `dirty` (set by the engine). */
  requestFlush: () => void = () => {}

  constructor(
    readonly r: ReplicaTree,
    private readonly runtime: Runtime,
  ) {
    const clock = () => runtime.clock.now()
    this.rateIn = new RateMeter(clock)
    this.rateOut = new RateMeter(clock)
  }

  get id(): string {
    return this.r.id
  }

  /** Live channels, in opening order. */
  live(): Channel[] {
    return [...this.channels].filter((c) => c.state === 'live')
  }

  /**
   * The live channel per peer node that carries the tree's sync and gossip
   * (a node may be connected over several transports; chunks may use any).
   * Both ends pick the same one: best transport for small messages (iroh,
   * then memory, then hyperswarm), then the channel opened by the lower node
   * id, then the lower number.
   */
  syncChannels(): Channel[] {
    const best = new Map<string, Channel>()
    for (const c of this.live()) {
      const cur = best.get(c.remote)
      if (!cur || syncRank(c) < syncRank(cur)) best.set(c.remote, c)
    }
    return [...best.values()]
  }

  /** Whether `ch` is the sync channel to its node. */
  isSyncChannel(ch: Channel): boolean {
    return this.syncChannels().includes(ch)
  }

  sent(bytes: number): void {
    this.bytesOut += bytes
    this.rateOut.add(bytes)
  }

  received(bytes: number): void {
    this.bytesIn += bytes
    this.rateIn.add(bytes)
  }

  touch(): void {
    this.lastActivity = this.runtime.clock.now()
  }
}

const TRANSPORT_RANK: Record<string, number> = { iroh: 0, memory: 1, hyperswarm: 2 }

/** Order of channels to one node for carrying sync (lower first); the same on both ends. */
function syncRank(c: Channel): number {
  const t = TRANSPORT_RANK[c.link.conn.transport] ?? 3
  const opener = c.mine ? c.link.localId : c.remote
  const other = c.mine ? c.remote : c.link.localId
  return t * 2 ** 40 + (opener < other ? 0 : 2 ** 39) + c.id
}
