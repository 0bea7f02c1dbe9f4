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
import { decodeSyncMessage, encodeSyncMessage, exportSyncState } from '../automerge.js'
import { TreeError } from '../errors.js'
import { sameHeads } from '../replication.js'
import { LIMITS } from '../wire/messages.js'
import type { Channel } from './channel.js'
import { canWrite } from './channel.js'
import type { TreeEntry } from './tree-entry.js'

/** Room left in a `sync` frame's data for the message header when a backlog is split. */
const SPLIT_BUDGET = LIMITS.sync - 64 * 1024

/** Send the next sync message of a shard on a channel, if there is one. Returns whether one was sent. */
export function pushShard(ch: Channel, shard: number): boolean {
  const msg = ch.entry.r.tree.syncMessage(shard, ch.syncState(shard))
  if (!msg) return false
  for (const part of msg.length <= LIMITS.sync ? [msg] : splitMessage(msg)) {
    ch.send({ type: 'sync', shard, data: part })
  }
  ch.entry.touch()
  return true
}

/**
 * A sync message over the frame limit (a long backlog of changes) as several
 * messages with the same heads, need and have, each with a run of the
 * changes in their order (causal: the receiver applies each run as it
 * comes). A single change over the limit cannot be sent: RangeError.
 */
export function splitMessage(msg: Uint8Array, budget = SPLIT_BUDGET): Uint8Array[] {
  const decoded = decodeSyncMessage(msg)
  const out: Uint8Array[] = []
  let run: Uint8Array[] = []
  let size = 0
  for (const c of decoded.changes) {
    if (c.length > budget)
      throw new RangeError(`one change of ${c.length} bytes exceeds the sync frame limit`)
    if (size + c.length > budget && run.length > 0) {
      out.push(encodeSyncMessage({ ...decoded, changes: run }))
      run = []
      size = 0
    }
    run.push(c)
    size += c.length
  }
  out.push(encodeSyncMessage({ ...decoded, changes: run }))
  return out
}

/**
 * After accept: our members, our shards and, when `initiate`, the first sync
 * message of each shard. Only one side initiates (the opener): when both
 * start at once, each answers the other's first message before its own
 * documents arrive, and a replica with nothing is sent its whole document
 * twice.
 */
export function startChannel(ch: Channel, initiate: boolean): void {
  sendMembers(ch)
  const shards = ch.entry.r.tree.shardIds()
  ch.send({ type: 'shards', shards })
  if (initiate) for (const s of shards) pushShard(ch, s)
}

/** Send the membership log when it grew since the last time on this channel. */
export function sendMembers(ch: Channel): void {
  const entries = ch.entry.r.membership.entries()
  if (entries.length === ch.membersSent) return
  ch.membersSent = entries.length
  for (let i = 0; i < entries.length; i += LIMITS.members)
    ch.send({ type: 'members', entries: entries.slice(i, i + LIMITS.members) })
}

/**
 * Shard numbers followed from a peer's summary. Creators fill shards from 0
 * up (8192 inodes each), so this is 33 M inodes; it bounds how many empty
 * documents a peer's summary can make us create.
 */
export const MAX_FOLLOWED_SHARD = 4095

/**
 * The remote listed its shards. The opener starts syncing the ones it does
 * not hold (the acceptor waits: the opener's first messages cover every
 * shard the opener holds, and an anti-entropy round covers both lists).
 */
export function onShards(ch: Channel, listed: number[]): void {
  const shards = listed.filter((s) => s <= MAX_FOLLOWED_SHARD)
  ch.remoteShards = new Set(shards)
  if (!ch.mine) return
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

/** Push every dirty shard to every peer (on its sync channel). */
export function flush(e: TreeEntry): void {
  const shards = [...e.dirty]
  e.dirty.clear()
  for (const ch of e.syncChannels()) for (const s of shards) pushShard(ch, s)
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
