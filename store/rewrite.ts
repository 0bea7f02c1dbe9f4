/**
 * Copy-on-write re-chunking (DESIGN.md "Staging is copy-on-write").
 *
 * A FastCDC cut for a chunk [a, b) depends on bytes a .. b inclusive (the
 * byte at b is examined), or on [a, a+max) for a max-size cut, and on nothing
 * before a. So a base chunk whose window holds no dirty byte is exactly the
 * chunk a full re-chunk would produce there, provided chunking reached its
 * start: base and full chunking agree up to the first chunk whose END is at
 * or after a dirty range's start. From there we re-chunk the new content,
 * and as soon as a new cut lands on a base boundary past every dirty byte
 * seen so far, both chunkings restart from the same offset over the same
 * bytes, so the remaining base chunks are reused until the next dirty range.
 *
 * The result therefore has exactly the chunks of a full re-chunk (and, the
 * manifest being a function of the chunk list, the same FileRef), while only
 * the chunks around the edits are read, hashed and encrypted.
 *
 * Dirty ranges are in new-file coordinates: outside them (and below both
 * sizes) the new content equals the base at the same offset. A size change
 * adds an implicit dirty range from the shorter size to the new end.
 */
import { Chunker } from './fastcdc.js'
import { type ByteRange, type ChunkId, type RandomAccessSource, StoreError } from './types.js'
import type { WriteSession } from './write-session.js'

/** The flat chunk list of a base file. */
export interface BaseEntries {
  ids: ChunkId[]
  lens: number[]
}

/**
 * Source bytes read per call while re-chunking: small at first, since the
 * chunker cuts as soon as a boundary is certain and resync usually comes
 * within a chunk or two of the dirty range's end, then doubling for long runs.
 */
const FIRST_READ = 64 * 1024
const MAX_READ = 1024 * 1024

/** Sorted, merged dirty ranges clipped to the new size, plus the size-change tail. */
export function normalizeDirty(dirty: ByteRange[], baseSize: number, newSize: number): ByteRange[] {
  const rs: ByteRange[] = []
  for (const r of dirty) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.end < r.start) {
      throw new StoreError('EINVAL', `bad dirty range [${r.start}, ${r.end})`)
    }
    const start = Math.min(r.start, newSize)
    const end = Math.min(r.end, newSize)
    if (end > start) rs.push({ start, end })
  }
  // The tail may be empty (truncation): it still forces the chunk cut by the old EOF to be redone.
  if (newSize !== baseSize) rs.push({ start: Math.min(baseSize, newSize), end: newSize })
  rs.sort((a, b) => a.start - b.start)
  const out: ByteRange[] = []
  for (const r of rs) {
    const last = out[out.length - 1]
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end)
    else out.push({ ...r })
  }
  return out
}

/** Feed `session` the chunk list of the new content; returns bytes re-chunked (read from source). */
export async function rewriteChunks(
  session: WriteSession,
  base: BaseEntries,
  baseSize: number,
  source: RandomAccessSource,
  dirty: ByteRange[],
): Promise<number> {
  const newSize = source.size
  if (!Number.isSafeInteger(newSize) || newSize < 0)
    throw new StoreError('EINVAL', `bad source size ${newSize}`)
  const regions = normalizeDirty(dirty, baseSize, newSize)
  const n = base.ids.length
  const starts = new Float64Array(n + 1)
  for (let i = 0; i < n; i++) starts[i + 1] = starts[i]! + base.lens[i]!
  if (starts[n] !== baseSize) throw new StoreError('EIO', 'base manifest length does not match its size')
  const boundaryIndex = (off: number): number => {
    // Index of the base chunk starting at off, or -1.
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (starts[mid]! < off) lo = mid + 1
      else hi = mid
    }
    return lo < n && starts[lo] === off ? lo : -1
  }

  let k = 0 // next base chunk not yet consumed
  let pos = 0 // bytes of new content emitted
  let ri = 0
  let rechunked = 0
  while (ri < regions.length && pos < newSize) {
    const r = regions[ri++]!
    // Reuse base chunks whose cut window (end byte included) lies before r.start.
    while (k < n && starts[k + 1]! < r.start) {
      session.addExisting(base.ids[k]!, base.lens[k]!)
      k++
    }
    pos = starts[k]!
    let regionEnd = r.end
    let readPos = pos
    let beyond = FIRST_READ
    const chunker = new Chunker(undefined, 0)
    let synced = false
    while (!synced && pos < newSize) {
      const atEnd = readPos >= newSize
      let pieces: Iterable<Uint8Array>
      if (atEnd) {
        pieces = chunker.finish()
      } else {
        // Up to the dirty end plus a little; past it, growing reads until the boundaries resync.
        const toEnd = regionEnd - readPos
        let len = toEnd > 0 ? Math.min(MAX_READ, toEnd + FIRST_READ) : beyond
        if (toEnd <= 0) beyond = Math.min(MAX_READ, beyond * 2)
        len = Math.min(len, newSize - readPos)
        const piece = await source.read(readPos, len)
        if (piece.length !== len) {
          throw new StoreError('EIO', `source returned ${piece.length} bytes at ${readPos}, expected ${len}`)
        }
        readPos += len
        rechunked += len
        pieces = chunker.push(piece)
      }
      for (const chunk of pieces) {
        session.addData(chunk)
        pos += chunk.length
        while (ri < regions.length && regions[ri]!.start < pos)
          regionEnd = Math.max(regionEnd, regions[ri++]!.end)
        if (pos >= regionEnd && pos < newSize) {
          const j = boundaryIndex(pos)
          if (j >= 0) {
            k = j
            synced = true
            break
          }
        }
      }
    }
  }
  if (pos < newSize || (n > 0 && regions.length === 0)) {
    // Past the last region the base continues unchanged to the end.
    while (k < n) {
      session.addExisting(base.ids[k]!, base.lens[k]!)
      k++
    }
  }
  return rechunked
}
