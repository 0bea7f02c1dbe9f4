/**
 * The per-shard Automerge sync on channels: the opening round, answering a
 * peer's message, the coalesced gossip of local and forwarded changes, and
 * the anti-entropy round that repairs lost messages.
 *
 * A sync state remembers what it sent, so a dropped message leaves it
 * silent (in flight) or unwilling to resend the same changes. Anti-entropy
 * spots that: a shard whose state has nothing to send although the peer's
 * last known heads differ from ours "looks stuck", and its state is reset,
 * so the next message starts over from our heads and a have-filter of all
 * our changes. The side that holds the undelivered changes is the one whose
 * heads differ, so it is the side that resets.
 */
import { exportSyncState } from '../automerge.js'
import { TreeError } from '../errors.js'
import { sameHeads } from '../replication.js'
import type { Channel } from './channel.js'
import { canWrite } from './channel.js'
import type { TreeEntry } from './tree-entry.js'

/** Send the next sync message of a shard on a channel, if there is one. Returns whether one was sent. */
export function pushShard(ch: Channel, shard: number): boolean {
  const msg = ch.entry.r.tree.syncMessage(shard, ch.syncState(shard))
  if (!msg) return false
  ch.send({ type: 'sync', shard, data: msg })
  ch.entry.touch()
  return true
}

/** After accept: our members, our shards, and the first sync message of each shard. */
export function startChannel(ch: Channel): void {
  sendMembers(ch)
  const shards = ch.entry.r.tree.shardIds()
  ch.send({ type: 'shards', shards })
  for (const s of shards) pushShard(ch, s)
}

/** Send the membership log when it grew since the last time on this channel. */
export function sendMembers(ch: Channel): void {
  const entries = ch.entry.r.membership.entries()
  if (entries.length === ch.membersSent) return
  ch.membersSent = entries.length
  ch.send({ type: 'members', entries })
}

/** The remote listed its shards: start syncing the ones we do not hold. */
export function onShards(ch: Channel, shards: number[]): void {
  ch.remoteShards = new Set(shards)
  const ours = new Set(ch.entry.r.tree.shardIds())
  for (const s of shards) if (!ours.has(s) && !ch.shards().includes(s)) pushShard(ch, s)
}

/** Why a received sync message was refused (the channel is closed with EFORBIDDEN). */
export class SyncRefused extends Error {}

/**
 * Apply a peer's sync message and answer it. Changes are taken only when
 * every author is a writer, admin or server here (now, or earlier when the
 * membership can tell: `everWriter`); a reader's
 * channel carries none at all (its sync states are read-only, so Automerge
 * tells a well-behaved reader not to offer any). Throws SyncRefused for a
 * refused message (nothing applied) and TreeError EINVAL for a malformed one.
 */
export function onSync(ch: Channel, shard: number, data: Uint8Array): void {
  const e = ch.entry
  const tree = e.r.tree
  const membership = e.r.membership
  const readerPeer = !canWrite(ch.remoteRole)
  let refusedAuthor: string | undefined
  const before = tree.headsOf(shard)
  e.applyingFrom = ch.remote
  try {
    tree.receiveSyncMessage(shard, ch.syncState(shard), data, {
      allowAuthor: (node) => {
        if (!readerPeer && (canWrite(membership.roleOf(node)) || membership.everWriter?.(node) === true))
          return true
        refusedAuthor = node
        return false
      },
    })
  } catch (err) {
    if (err instanceof TreeError && err.code === 'EPERM') {
      throw new SyncRefused(
        readerPeer
          ? `a ${ch.remoteRole} may not send changes (shard ${shard})`
          : `change by ${refusedAuthor || 'an unknown author'}, who may not write (shard ${shard})`,
      )
    }
    throw err
  } finally {
    e.applyingFrom = undefined
  }
  e.touch()
  pushShard(ch, shard)
  // New changes go on to the other peers (a line of replicas converges through the middle one).
  if (!sameHeads(before, tree.headsOf(shard))) markDirty(e, shard)
}

/** Note a shard for the next gossip flush (the engine coalesces flushes on a 0-ms timer). */
export function markDirty(e: TreeEntry, shard: number): void {
  e.dirty.add(shard)
  e.requestFlush()
}

/** Push every dirty shard to every live channel. */
export function flush(e: TreeEntry): void {
  const shards = [...e.dirty]
  e.dirty.clear()
  for (const ch of e.live()) for (const s of shards) pushShard(ch, s)
}

/** One anti-entropy round with the peer on `ch`: shard summary, then every shard that has something to say. */
export function antiEntropy(ch: Channel): void {
  const tree = ch.entry.r.tree
  const ours = tree.shardIds()
  ch.send({ type: 'shards', shards: ours })
  const all = [...new Set([...ours, ...ch.remoteShards])].sort((a, b) => a - b)
  for (const s of all) {
    if (pushShard(ch, s)) continue
    const theirs = exportSyncState(ch.syncState(s)).theirHeads
    if (theirs && sameHeads(theirs, tree.headsOf(s))) continue
    ch.resetShard(s)
    pushShard(ch, s)
  }
}
