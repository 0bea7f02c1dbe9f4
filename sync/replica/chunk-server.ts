/**
 * Serving chunks to peers: a `want` is answered on its link's serving queue
 * (one want after another), one `chunk` frame per id held, each send awaited
 * so a slow peer holds back only its own link (backpressure), then one
 * `nochunk` for the ids not held. Ids a peer asked for in vain are
 * remembered, and it is told by `have` once they arrive here.
 *
 * A want for an id not stored here that this node is fetching itself (from
 * another node than the asker) is held instead (ChunkFetcher.hold): the
 * asker gets the `chunk` once it arrives here, or `nochunk` when this
 * node's own ask fails or after HOLD_MS. Metadata travels ahead of chunks,
 * so the peer a change came from is usually still fetching its chunks when
 * it is asked; holding saves the `nochunk`, the `have` and the second `want`
 * of each such id.
 */
import type { ChunkId } from '../../store/types.js'
import { ProtocolError } from '../wire/messages.js'
import type { Channel } from './channel.js'
import type { TreeEntry } from './tree-entry.js'

/** Ids per channel remembered as asked-for-but-absent (beyond it, the asker finds out by anti-entropy). */
const OWED_MAX = 65_536

/**
 * `want` messages a link may have waiting for an answer. Our fetcher keeps a
 * few at most (its window is 64 ids per peer); a peer past this is flooding.
 */
export const MAX_PENDING_WANTS = 256

/** Answer a want (in order, after earlier wants on the same link). ProtocolError when the peer floods. */
export function serveWant(ch: Channel, ids: string[]): void {
  const link = ch.link
  if (link.pendingWants >= MAX_PENDING_WANTS)
    throw new ProtocolError('EORDER', `more than ${MAX_PENDING_WANTS} want messages waiting for an answer`)
  link.pendingWants++
  link.serving = link.serving.then(async () => {
    try {
      await answer(ch, ids)
    } finally {
      link.pendingWants--
    }
  })
}

async function answer(ch: Channel, ids: string[]): Promise<void> {
  const link = ch.link
  const absent: string[] = []
  for (const id of ids) {
    if (!ch.live || link.conn.closed) return
    let data: Uint8Array | undefined
    try {
      data = ch.entry.r.store.getStored(id)
    } catch {
      data = undefined
    }
    if (data) await ch.send({ type: 'chunk', id, data })
    else absent.push(id)
  }
  if (!ch.live || link.conn.closed) return
  const refused: string[] = []
  for (const id of absent) {
    if (!ch.entry.fetcher.hold(ch, id)) refused.push(id)
  }
  if (refused.length > 0) {
    ch.send({ type: 'nochunk', ids: refused })
    for (const id of refused) if (ch.owed.size < OWED_MAX) ch.owed.add(id)
  }
}

/**
 * A chunk arrived: peers whose want for it we held get it (after what their
 * link is serving), peers that asked us for it in vain learn that we have it
 * now (a line relays content).
 */
export function tellHave(e: TreeEntry, id: ChunkId): void {
  for (const ch of e.live()) {
    const held = ch.held.get(id)
    if (held) {
      held.cancel()
      ch.held.delete(id)
      const link = ch.link
      link.serving = link.serving.then(async () => {
        let data: Uint8Array | undefined
        try {
          data = ch.entry.r.store.getStored(id)
        } catch {
          data = undefined
        }
        if (!ch.live || link.conn.closed) return
        if (data) await ch.send({ type: 'chunk', id, data })
        else ch.send({ type: 'nochunk', ids: [id] })
      })
    }
    if (ch.owed.delete(id)) ch.send({ type: 'have', ids: [id] })
  }
}

/** This node's ask for `id` failed or it stopped fetching it: peers whose want we held get `nochunk`. */
export function tellAbandoned(e: TreeEntry, id: ChunkId): void {
  for (const ch of e.channels) if (ch.held.has(id)) refuseHeld(ch, id)
}

/** End the hold of `id` on `ch` with `nochunk` (the peer is told by `have` once it arrives here). */
export function refuseHeld(ch: Channel, id: ChunkId): void {
  const held = ch.held.get(id)
  if (!held) return
  held.cancel()
  ch.held.delete(id)
  if (!ch.live || ch.link.conn.closed) return
  ch.send({ type: 'nochunk', ids: [id] })
  if (ch.owed.size < OWED_MAX) ch.owed.add(id)
}
