/**
 * The Automerge side of replicating one shard: generating sync messages whose
 * changes the peer can apply in small batches, applying received messages in
 * batches, and reading what the new changes touched (keys, content versions,
 * history rows).
 */
import {
  chunkType,
  type Doc,
  decodeChange,
  decodeSyncMessage,
  encodeSyncMessage,
  exportSyncState,
  loadDoc,
  type SyncState,
} from './automerge.js'
import { TreeError } from './errors.js'
import { validContent } from './inode-codec.js'
import { nodeOfActor } from './names.js'
import type { ContentVersion, HistoryEntry } from './types.js'

/** Changes applied per `applyChanges` call when receiving (large batches cost minutes and GBs on big docs). */
export const APPLY_BATCH = 64

/**
 * The next sync message of `doc` for a peer. Automerge 3.5 packs the changes
 * of a message into one document chunk, which the peer must apply in one go
 * (seconds and hundreds of MB for a 1000-change backlog on an 8k-entry
 * shard). Unless the peer has nothing yet (then the document chunk loads
 * fastest), the changes go one by one, minus those the peer's heads already
 * cover, so the peer can apply them in small batches (in causal order).
 */
export function generateMessage(doc: Doc, peer: SyncState): Uint8Array | null {
  const sentBefore = new Set(Object.keys(exportSyncState(peer).sentHashes))
  const msg = doc.generateSyncMessage(peer)
  if (!msg) return null
  const decoded = decodeSyncMessage(msg)
  if (decoded.changes.length === 0) return msg
  const st = exportSyncState(peer)
  const theirs = st.theirHeads ?? []
  if (theirs.length === 0) return msg
  // Changes outside the causal past of their heads that we know; none known
  // (unrelated histories, e.g. a shard both sides started offline): all.
  const theirHeads = theirs.filter((h) => doc.getChangeMetaByHash(h) !== null)
  const fresh = new Set(Object.keys(st.sentHashes).filter((h) => !sentBefore.has(h)))
  const changes: Uint8Array[] = []
  for (const m of doc.getChangesMeta(theirHeads)) {
    if (fresh.has(m.hash)) changes.push(doc.getChangeByHash(m.hash)!)
  }
  return encodeSyncMessage({ ...decoded, changes })
}

/** Decode a received sync message (TreeError EINVAL when malformed). */
export function decodeMessage(message: Uint8Array): ReturnType<typeof decodeSyncMessage> {
  try {
    return decodeSyncMessage(message)
  } catch (e) {
    throw new TreeError('EINVAL', `bad sync message: ${(e as Error).message}`)
  }
}

/**
 * Apply a received message: individual changes in batches of APPLY_BATCH,
 * the last one through `receiveSyncMessage` itself (a message without changes
 * whose heads we already have would make us skip our acknowledgement, and the
 * peer would later resend everything). Document chunks go as they are.
 */
export function applyMessage(
  doc: Doc,
  peer: SyncState,
  message: Uint8Array,
  decoded: ReturnType<typeof decodeSyncMessage>,
): void {
  const chunks = decoded.changes
  if (chunks.length > 1 && chunks.every((c) => chunkType(c) === 1 || chunkType(c) === 2)) {
    const last = chunks.length - 1
    for (let i = 0; i < last; i += APPLY_BATCH)
      doc.applyChanges(chunks.slice(i, Math.min(i + APPLY_BATCH, last)))
    doc.receiveSyncMessage(peer, encodeSyncMessage({ ...decoded, changes: chunks.slice(last) }))
  } else {
    doc.receiveSyncMessage(peer, message)
  }
}

export type ChangeMeta = ReturnType<Doc['getChangesMeta']>[number]

/**
 * Node ids of the authors of every change a decoded message carries (actor ->
 * node by `nodeOfActor`; '' for an actor that is not ours). A document chunk
 * is loaded into a scratch document to list its changes. Throws TreeError
 * EINVAL when a change or chunk does not decode.
 */
export function changeAuthors(decoded: ReturnType<typeof decodeSyncMessage>): Set<string> {
  const nodes = new Set<string>()
  for (const chunk of decoded.changes) {
    try {
      if (chunkType(chunk) === 0) {
        const scratch = loadDoc(chunk, '00')
        try {
          for (const m of scratch.getChangesMeta([])) nodes.add(nodeOfActor(m.actor))
        } finally {
          scratch.free()
        }
      } else {
        nodes.add(nodeOfActor(decodeChange(chunk).actor))
      }
    } catch (e) {
      throw new TreeError('EINVAL', `bad change from peer: ${(e as Error).message}`)
    }
  }
  return nodes
}

/**
 * Root keys written by `metas` (read from the changes themselves: a diff
 * omits concurrent values that do not change the winner, and those are
 * exactly the conflicts the view must show). Content values met on the way
 * go to `onContent`, so versions overwritten within a backlog are retained.
 */
export function touchedKeys(
  doc: Doc,
  metas: ChangeMeta[],
  onContent: (c: ContentVersion) => void,
): Set<string> {
  const keys = new Set<string>()
  for (const m of metas) {
    for (const op of doc.getDecodedChangeByHash(m.hash)?.ops ?? []) {
      const o = op as { obj?: unknown; key?: unknown; value?: unknown }
      if (o.obj !== '_root' || typeof o.key !== 'string') continue
      keys.add(o.key)
      if (o.key.endsWith('/content') && typeof o.value === 'string') {
        const c = parseJsonSafe(o.value)
        if (validContent(c)) onContent(c)
      }
    }
  }
  return keys
}

type HistOp = HistoryEntry['op']
const HIST_OPS = new Set(['create', 'write', 'move', 'setattr', 'remove', 'resolve', 'other'])

/** History rows of one change, from the JSON message `commit` writes (anything else: one 'other' row). */
export function historyOf(m: ChangeMeta): HistoryEntry[] {
  const node = nodeOfActor(m.actor)
  const v = m.message ? parseJsonSafe(m.message) : undefined
  const meta = typeof v === 'object' && v !== null ? (v as { t?: unknown; ops?: unknown }) : {}
  const time = typeof meta.t === 'number' ? meta.t : m.time * 1000
  const out: HistoryEntry[] = []
  if (Array.isArray(meta.ops)) {
    for (const o of meta.ops) {
      if (Array.isArray(o) && typeof o[1] === 'string' && typeof o[2] === 'string') {
        const op = HIST_OPS.has(o[0]) ? (o[0] as HistOp) : 'other'
        out.push({ version: m.hash, time, node, op, ino: o[1], path: o[2] })
      }
    }
  }
  if (out.length === 0) out.push({ version: m.hash, time, node, op: 'other', ino: '', path: '' })
  return out
}

export function sameHeads(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false
  const s = new Set(a)
  return b.every((h) => s.has(h))
}

function parseJsonSafe(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}
