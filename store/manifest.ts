/**
 * Manifests: a file's chunk list as a tree of nodes, each stored (encrypted)
 * as a chunk, so manifests replicate exactly like data.
 *
 * Node plaintext, little-endian:
 *   "BTM" | version u8 (=1) | level u8 | count u32 | entries
 *   level 0 (leaf) entry:  chunk id (32 raw bytes) | plaintext length u32
 *   level k>0 (index):     child node id (32)      | subtree length u64
 *
 * Node boundaries are content-defined on the entries' ids (a node ends after
 * an id whose low bits are zero, or at MAX_FANOUT entries), so an edit changes
 * only the nodes on its path even when it shifts later entries, and the tree
 * is a pure function of the chunk list: equal content ⇒ equal root id.
 */
import { type ChunkId, type FileRef, StoreError } from './types.js'

export const MANIFEST_VERSION = 1
export const HEADER_BYTES = 9
export const LEAF_ENTRY_BYTES = 36
export const INDEX_ENTRY_BYTES = 40
/** Most entries in one node: a full leaf is ~72 KiB, far below the 256 KiB chunk maximum. */
export const MAX_FANOUT = 2048
/** Average fanout is 2^FANOUT_BITS (512). */
const FANOUT_BITS = 9

/**
 * Shape of the manifest tree. Part of the format: a different shape gives
 * different root ids for the same content. Only tests use smaller shapes, to
 * get deep trees from small files.
 */
export interface TreeShape {
  /** A node ends after an id whose low `fanoutBits` bits are zero. */
  fanoutBits: number
  /** ... or once it holds this many entries (at most MAX_FANOUT). */
  maxFanout: number
}

export const DEFAULT_TREE_SHAPE: Readonly<TreeShape> = Object.freeze({
  fanoutBits: FANOUT_BITS,
  maxFanout: MAX_FANOUT,
})
/** Deepest tree accepted when decoding: 512^7 chunks is far beyond any file. */
export const MAX_LEVEL = 7
/** Largest plaintext chunk a leaf may list (FastCDC max). */
export const MAX_CHUNK_BYTES = 256 * 1024

/** A decoded manifest node. `ends[i]` is the end offset of entry i relative to the node's start. */
export interface ManifestNode {
  level: number
  ids: ChunkId[]
  ends: Float64Array
  total: number
}

function eio(message: string, id?: ChunkId): StoreError {
  return new StoreError('EIO', `malformed manifest: ${message}`, id)
}

/** Does a node end after this entry id? */
export function isNodeBoundary(id: ChunkId, fanoutBits = FANOUT_BITS): boolean {
  return (Number.parseInt(id.slice(-4), 16) & ((1 << fanoutBits) - 1)) === 0
}

export function encodeNode(level: number, ids: readonly ChunkId[], lens: readonly number[]): Uint8Array {
  const entry = level === 0 ? LEAF_ENTRY_BYTES : INDEX_ENTRY_BYTES
  const out = Buffer.alloc(HEADER_BYTES + ids.length * entry)
  out.write('BTM', 0, 'latin1')
  out[3] = MANIFEST_VERSION
  out[4] = level
  out.writeUInt32LE(ids.length, 5)
  let o = HEADER_BYTES
  for (let i = 0; i < ids.length; i++) {
    out.write(ids[i]!, o, 32, 'hex')
    const len = lens[i]!
    if (level === 0) {
      out.writeUInt32LE(len, o + 32)
    } else {
      out.writeUInt32LE(len % 0x100000000, o + 32)
      out.writeUInt32LE(Math.floor(len / 0x100000000), o + 36)
    }
    o += entry
  }
  return out
}

/** Decode and validate a node; any inconsistency is StoreError('EIO'), never a crash. */
export function decodeNode(plain: Uint8Array, id?: ChunkId): ManifestNode {
  if (plain.length < HEADER_BYTES) throw eio('too short', id)
  const b = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength)
  if (b.toString('latin1', 0, 3) !== 'BTM') throw eio('bad magic', id)
  if (b[3] !== MANIFEST_VERSION) throw eio(`unknown version ${b[3]}`, id)
  const level = b[4]!
  if (level > MAX_LEVEL) throw eio(`level ${level} too deep`, id)
  const count = b.readUInt32LE(5)
  if (count > MAX_FANOUT) throw eio(`${count} entries exceed ${MAX_FANOUT}`, id)
  if (level > 0 && count === 0) throw eio('empty index node', id)
  const entry = level === 0 ? LEAF_ENTRY_BYTES : INDEX_ENTRY_BYTES
  if (b.length !== HEADER_BYTES + count * entry) throw eio('length does not match entry count', id)
  const ids: ChunkId[] = new Array(count)
  const ends = new Float64Array(count)
  let total = 0
  let o = HEADER_BYTES
  for (let i = 0; i < count; i++) {
    ids[i] = b.toString('hex', o, o + 32)
    let len: number
    if (level === 0) {
      len = b.readUInt32LE(o + 32)
      if (len === 0 || len > MAX_CHUNK_BYTES) throw eio(`chunk length ${len} out of range`, id)
    } else {
      const hi = b.readUInt32LE(o + 36)
      if (hi >= 0x200000) throw eio('subtree length beyond 2^53', id)
      len = hi * 0x100000000 + b.readUInt32LE(o + 32)
      if (len === 0) throw eio('empty subtree', id)
    }
    total += len
    if (total > Number.MAX_SAFE_INTEGER) throw eio('total length beyond 2^53', id)
    ends[i] = total
    o += entry
  }
  return { level, ids, ends, total }
}

/** Index of the entry containing byte `off` (0 <= off < node.total). */
export function entryAt(node: ManifestNode, off: number): number {
  let lo = 0
  let hi = node.ends.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (node.ends[mid]! > off) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** Stores one encoded node and returns its id (the store seals, batches and registers it). */
export type NodeSink = (level: number, plain: Uint8Array, children: ChunkId[]) => ChunkId

/**
 * Builds the manifest tree of a chunk list streamed in order. Memory is
 * bounded by the pending nodes, one per level.
 */
export class TreeBuilder {
  private readonly levels: { ids: ChunkId[]; lens: number[] }[] = []
  private total = 0
  private done = false

  constructor(
    private readonly sink: NodeSink,
    private readonly shape: TreeShape = DEFAULT_TREE_SHAPE,
  ) {
    if (
      !(
        shape.maxFanout >= 2 &&
        shape.maxFanout <= MAX_FANOUT &&
        shape.fanoutBits >= 1 &&
        shape.fanoutBits <= 16
      )
    ) {
      throw new RangeError('bad manifest tree shape')
    }
  }

  get size(): number {
    return this.total
  }

  add(id: ChunkId, len: number): void {
    if (this.done) throw new Error('TreeBuilder already finished')
    if (!(len > 0 && len <= MAX_CHUNK_BYTES)) throw new RangeError(`chunk length ${len} out of range`)
    this.total += len
    this.push(0, id, len)
  }

  finish(): FileRef {
    if (this.done) throw new Error('TreeBuilder already finished')
    this.done = true
    for (let k = 0; ; k++) {
      const here = this.levels[k] ?? { ids: [], lens: [] }
      const isTop = this.levels.slice(k + 1).every((l) => l.ids.length === 0)
      if (isTop) {
        // A lone child at the top is the root itself: keeps the tree canonical.
        if (k > 0 && here.ids.length === 1) return { id: here.ids[0]!, size: this.total }
        return { id: this.sink(k, encodeNode(k, here.ids, here.lens), here.ids), size: this.total }
      }
      if (here.ids.length > 0) this.flush(k)
    }
  }

  private push(level: number, id: ChunkId, len: number): void {
    if (level > MAX_LEVEL)
      throw new RangeError(`manifest tree deeper than ${MAX_LEVEL} levels: tree shape too narrow`)
    while (this.levels.length <= level) this.levels.push({ ids: [], lens: [] })
    const l = this.levels[level]!
    l.ids.push(id)
    l.lens.push(len)
    if (l.ids.length >= this.shape.maxFanout || isNodeBoundary(id, this.shape.fanoutBits)) this.flush(level)
  }

  private flush(level: number): void {
    const l = this.levels[level]!
    this.levels[level] = { ids: [], lens: [] }
    let sum = 0
    for (const n of l.lens) sum += n
    const id = this.sink(level, encodeNode(level, l.ids, l.lens), l.ids)
    this.push(level + 1, id, sum)
  }
}
