/**
 * The Automerge side of replicating one shard: generating sync messages whose
 * changes the peer can apply in small batches, applying received messages in
 * batches, and reading what the new changes touched (keys, content versions,
 * history rows).
 */

import type { DecodedSyncMessage } from '@automerge/automerge'
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
 * of a message into one piece: a few changes as concatenated change chunks,
 * more as one document chunk, which the peer must apply in one go (seconds
 * and hundreds of MB for a 1000-change backlog on an 8k-entry shard). Unless
 * the peer has nothing yet (then the document chunk loads fastest), the
 * changes go one by one (in causal order), so the peer can apply them in
 * small batches.
 *
 * Most messages carry no change or one (gossip, acknowledgements): those
 * go as generated, without exporting the sync state or reading the change
 * graph (that was two thirds of the cost of every message).
 */
export function generateMessage(doc: Doc, peer: SyncState): Uint8Array | null {
  const msg = doc.generateSyncMessage(peer)
  if (!msg) return null
  const pieces = messageChanges(msg)
  if (pieces && (pieces.length === 0 || (pieces.length === 1 && splitChunks(pieces[0]!)?.length === 1)))
    return msg
  const decoded = decodeSyncMessage(msg)
  if (decoded.changes.length === 0) return msg
  if (decoded.changes.length === 1 && splitChunks(decoded.changes[0]!)?.length === 1) return msg
  const theirs = exportSyncState(peer).theirHeads ?? []
  if (theirs.length === 0) return msg
  // The hashes of the changes Automerge chose to send (a document chunk is
  // opened in a scratch document to list them) ...
  const fresh = new Set<string>()
  for (const piece of decoded.changes) {
    const parts = chunkType(piece) === 0 ? undefined : splitChunks(piece)
    if (parts) {
      for (const c of parts) fresh.add(decodeChange(c).hash)
      continue
    }
    const scratch = loadDoc(piece, '00')
    try {
      for (const m of scratch.getChangesMeta([])) fresh.add(m.hash)
    } finally {
      scratch.free()
    }
  }
  // ... one by one, in our causal order after their heads that we know (none
  // known, e.g. a shard both sides started offline: after nothing).
  const theirHeads = theirs.filter((h) => doc.getChangeMetaByHash(h) !== null)
  const changes: Uint8Array[] = []
  for (const m of doc.getChangesMeta(theirHeads)) {
    if (fresh.has(m.hash)) changes.push(doc.getChangeByHash(m.hash)!)
  }
  return encodeSyncMessage({ ...decoded, changes })
}

/** What applying and checking a message needs of it: its change pieces. */
export type MessageChanges = Pick<DecodedSyncMessage, 'changes'>

/**
 * The change pieces of an encoded sync message, read in JS without decoding
 * the rest (type byte 0x42/0x43, heads, need, have entries with their bloom
 * filters, then the length-prefixed changes); undefined when it does not
 * parse that far (then decode it fully). Pieces are views into `msg`.
 */
export function messageChanges(msg: Uint8Array): Uint8Array[] | undefined {
  if (msg[0] !== 0x42 && msg[0] !== 0x43) return undefined
  const r = { at: 1 }
  const skipHashes = (): boolean => {
    const n = readUleb(msg, r)
    if (n === undefined) return false
    r.at += n * 32
    return r.at <= msg.length
  }
  if (!skipHashes() || !skipHashes()) return undefined
  const haves = readUleb(msg, r)
  if (haves === undefined) return undefined
  for (let i = 0; i < haves; i++) {
    if (!skipHashes()) return undefined
    const bloom = readUleb(msg, r)
    if (bloom === undefined || r.at + bloom > msg.length) return undefined
    r.at += bloom
  }
  const count = readUleb(msg, r)
  if (count === undefined) return undefined
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const len = readUleb(msg, r)
    if (len === undefined || r.at + len > msg.length) return undefined
    out.push(msg.subarray(r.at, r.at + len))
    r.at += len
  }
  return out
}

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]

/**
 * Concatenated Automerge change chunks (magic, checksum, type, LEB128
 * length, body) as one array element per chunk; undefined when `buf` is not
 * a clean run of change chunks (type 1 or 2).
 */
export function splitChunks(buf: Uint8Array): Uint8Array[] | undefined {
  const out: Uint8Array[] = []
  let at = 0
  while (at < buf.length) {
    if (buf.length - at < 10) return undefined
    for (let i = 0; i < 4; i++) if (buf[at + i] !== MAGIC[i]) return undefined
    const type = buf[at + 8]
    if (type !== 1 && type !== 2) return undefined
    const r = { at: at + 9 }
    const len = readUleb(buf, r)
    if (len === undefined) return undefined
    const end = r.at + len
    if (end > buf.length) return undefined
    out.push(buf.subarray(at, end))
    at = end
  }
  return out.length > 0 ? out : undefined
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
export function applyMessage(doc: Doc, peer: SyncState, message: Uint8Array, decoded: MessageChanges): void {
  const chunks = decoded.changes
  if (chunks.length > 1 && chunks.every((c) => chunkType(c) === 1 || chunkType(c) === 2)) {
    const last = chunks.length - 1
    for (let i = 0; i < last; i += APPLY_BATCH)
      doc.applyChanges(chunks.slice(i, Math.min(i + APPLY_BATCH, last)))
    const full = 'heads' in decoded ? (decoded as DecodedSyncMessage) : decodeMessage(message)
    doc.receiveSyncMessage(peer, encodeSyncMessage({ ...full, changes: chunks.slice(last) }))
  } else {
    doc.receiveSyncMessage(peer, message)
  }
}

/**
 * The actor (hex) of one uncompressed change chunk, read from its header
 * (deps, then the length-prefixed actor id), as Automerge parses it;
 * undefined for anything else (compressed, malformed: decode it fully).
 */
export function changeActor(chunk: Uint8Array): string | undefined {
  if (chunk[8] !== 1) return undefined
  const r = { at: 9 }
  const len = readUleb(chunk, r)
  if (len === undefined || r.at + len !== chunk.length) return undefined
  const deps = readUleb(chunk, r)
  if (deps === undefined) return undefined
  r.at += deps * 32
  const actorLen = readUleb(chunk, r)
  if (actorLen === undefined || actorLen === 0 || r.at + actorLen > chunk.length) return undefined
  return Buffer.from(chunk.buffer, chunk.byteOffset + r.at, actorLen).toString('hex')
}

function readUleb(buf: Uint8Array, r: { at: number }): number | undefined {
  let v = 0
  for (let shift = 0; shift <= 28; shift += 7) {
    if (r.at >= buf.length) return undefined
    const b = buf[r.at++]!
    v += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return v
  }
  return undefined
}

export type ChangeMeta = ReturnType<Doc['getChangesMeta']>[number]

/**
 * Node ids of the authors of every change a decoded message carries (actor ->
 * node by `nodeOfActor`; '' for an actor that is not ours). A document chunk
 * is loaded into a scratch document to list its changes. Throws TreeError
 * EINVAL when a change or chunk does not decode.
 */
export function changeAuthors(decoded: MessageChanges): Set<string> {
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
        // Read from the change headers in JS (a full decode turns every op into JS objects).
        const actors = splitChunks(chunk)?.map(changeActor)
        if (actors?.every((a) => a !== undefined)) for (const a of actors) nodes.add(nodeOfActor(a!))
        else nodes.add(nodeOfActor(decodeChange(chunk).actor))
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
    for (const [key, content] of rootOps(doc, m.hash)) {
      keys.add(key)
      if (content === undefined) continue
      const c = parseJsonSafe(content)
      if (validContent(c)) onContent(c)
    }
  }
  return keys
}

/**
 * The root keys one change writes, in op order, each with the string value
 * when it is a `/content` key. A pure function of the change (its hash names
 * its bytes), kept per process by hash: every replica in one process (a
 * simulated swarm: 100 replicas merge each change) decodes it once, not once
 * each. Bounded; the oldest entries go first.
 */
function rootOps(doc: Doc, hash: string): [string, string | undefined][] {
  const hit = ROOT_OPS.get(hash)
  if (hit) return hit
  const change = doc.getDecodedChangeByHash(hash)
  if (!change) return []
  const out: [string, string | undefined][] = []
  for (const op of change.ops) {
    const o = op as { obj?: unknown; key?: unknown; value?: unknown }
    if (o.obj !== '_root' || typeof o.key !== 'string') continue
    out.push([o.key, o.key.endsWith('/content') && typeof o.value === 'string' ? o.value : undefined])
  }
  ROOT_OPS.set(hash, out)
  if (ROOT_OPS.size > ROOT_OPS_MAX) ROOT_OPS.delete(ROOT_OPS.keys().next().value!)
  return out
}

const ROOT_OPS = new Map<string, [string, string | undefined][]>()
const ROOT_OPS_MAX = 8192

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
