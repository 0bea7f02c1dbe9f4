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
