/**
 * Replication between path trees in one process: the per-shard Automerge
 * sync protocol run to quiescence, plus the shard summary peers exchange to
 * learn which shards exist. Used by tests and the in-memory simulator; real
 * transports carry the same messages.
 */
import type { SyncState } from './automerge.js'
import { TreeError } from './errors.js'
import type { AutomergePathTree } from './path-tree.js'

/** Encode the list of shards a replica holds (sent once per connection). */
export function encodeShardSummary(shards: number[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, shards }))
}

/** Decode and validate a shard summary. */
export function decodeShardSummary(bytes: Uint8Array): number[] {
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new TreeError('EINVAL', 'bad shard summary')
  }
  const shards = (v as { shards?: unknown })?.shards
  if ((v as { v?: unknown })?.v !== 1 || !Array.isArray(shards) || shards.length > 1_000_000) {
    throw new TreeError('EINVAL', 'bad shard summary')
  }
  for (const s of shards) {
    if (!Number.isSafeInteger(s) || s < 0 || s > 999999)
      throw new TreeError('EINVAL', 'bad shard id in summary')
  }
  return shards as number[]
}

export interface SyncStats {
  messages: number
  bytes: number
}

/** Per-peer sync states of one replica, one per shard. */
export class PeerSyncStates {
  private readonly states = new Map<number, SyncState>()
  constructor(private readonly tree: AutomergePathTree) {}
  get(shard: number): SyncState {
    const s = this.states.get(shard) ?? this.tree.newSyncState()
    this.states.set(shard, s)
    return s
  }
}

/**
 * Run the sync protocol between `a` and `b` until neither has anything to
 * send. `shards` limits it to some shards (partial syncs in tests).
 */
export function syncTrees(
  a: AutomergePathTree,
  b: AutomergePathTree,
  opts: { shards?: number[]; maxRounds?: number } = {},
): SyncStats {
  const sa = new PeerSyncStates(a)
  const sb = new PeerSyncStates(b)
  const stats: SyncStats = { messages: 0, bytes: 0 }
  const shards =
    opts.shards ??
    [
      ...new Set([
        ...decodeShardSummary(encodeShardSummary(a.shardIds())),
        ...decodeShardSummary(encodeShardSummary(b.shardIds())),
      ]),
    ].sort((x, y) => x - y)
  /** Send one message for `shard` from `from` to `to`, if `from` has one; true when sent. */
  const send = (
    from: AutomergePathTree,
    fromStates: PeerSyncStates,
    to: AutomergePathTree,
    toStates: PeerSyncStates,
    shard: number,
  ): boolean => {
    const m = from.syncMessage(shard, fromStates.get(shard))
    if (!m) return false
    stats.messages++
    stats.bytes += m.length
    to.receiveSyncMessage(shard, toStates.get(shard), m)
    return true
  }
  const maxRounds = opts.maxRounds ?? 1000
  for (let round = 0; round < maxRounds; round++) {
    let sent = false
    for (const shard of shards) {
      // Both directions every round (no short-circuit): a's message may make b answer.
      const ab = send(a, sa, b, sb, shard)
      const ba = send(b, sb, a, sa, shard)
      sent = sent || ab || ba
    }
    if (!sent) return stats
  }
  if (opts.maxRounds === undefined) throw new TreeError('EIO', 'sync did not quiesce')
  return stats
}
