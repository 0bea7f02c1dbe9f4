/**
 * FastCDC content-defined chunking (Xia et al., "FastCDC", USENIX ATC'16 and
 * its 2020 journal version): a Gear rolling hash with normalized chunking —
 * a harder mask before the average size and an easier one after it, which
 * pulls chunk sizes towards the average.
 *
 * Boundaries depend only on the bytes from the chunk's start onwards (the hash
 * restarts at every chunk), which is what lets `rewrite` re-chunk a region and
 * resynchronise with the old boundaries once a new cut lands on an old one.
 *
 * The cut decision for a chunk starting at s examines bytes s+min .. cut
 * INCLUSIVE of the byte at the cut (it becomes the next chunk's first byte),
 * or stops at s+max. Callers reasoning about which chunks an edit affects must
 * count that extra byte.
 */

export interface ChunkParams {
  min: number
  avg: number
  max: number
}

/** Blocktree's chunk sizes: 16 / 64 / 256 KiB. Changing them changes every chunk id. */
export const DEFAULT_CHUNK_PARAMS: Readonly<ChunkParams> = Object.freeze({
  min: 16 * 1024,
  avg: 64 * 1024,
  max: 256 * 1024,
})

/**
 * The Gear table: 256 pseudo-random 32-bit words from SplitMix32 with a fixed
 * seed. Part of the on-disk format: changing it changes every chunk boundary.
 */
export const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256)
  let s = 0x9e3779b9
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    t[i] = (z ^ (z >>> 16)) >>> 0
  }
  return t
})()

function log2(n: number): number {
  const b = Math.round(Math.log2(n))
  if (2 ** b !== n) throw new RangeError(`chunk average size must be a power of two, got ${n}`)
  return b
}

/** A mask of the top `bits` bits of a 32-bit word, as int32 (Gear's high bits see the widest window). */
function topMask(bits: number): number {
  return (0xffffffff << (32 - bits)) | 0
}

interface Masks {
  small: number
  large: number
}

const maskCache = new Map<number, Masks>()

function masksFor(avg: number): Masks {
  let m = maskCache.get(avg)
  if (!m) {
    // Normalization level 2: two bits harder before the average, two easier after.
    const bits = log2(avg)
    m = { small: topMask(bits + 2), large: topMask(bits - 2) }
    maskCache.set(avg, m)
  }
  return m
}

function checkParams(p: ChunkParams): void {
  if (!(p.min > 0 && p.min <= p.avg && p.avg <= p.max)) throw new RangeError('need 0 < min <= avg <= max')
}

/** Hash left by the last `gearScan` that found no cut (a module slot: no allocation per call). */
let scanHash = 0

/**
 * Gear-scan buf[i, a) against the small mask, then [a, b) against the large
 * one, starting from `hash`. Returns the cut index, or -1 with the running
 * hash in `scanHash`. The one hot loop, shared by `cutPoint` and `Chunker` so
 * both cut identically.
 */
function gearScan(buf: Uint8Array, i: number, a: number, b: number, hash: number, masks: Masks): number {
  const { small, large } = masks
  const g = GEAR
  for (; i < a; i++) {
    hash = ((hash << 1) + g[buf[i]!]!) | 0
    if ((hash & small) === 0) return i
  }
  for (; i < b; i++) {
    hash = ((hash << 1) + g[buf[i]!]!) | 0
    if ((hash & large) === 0) return i
  }
  scanHash = hash
  return -1
}

/**
 * Length of the chunk starting at `start` in buf[start, end). Only meaningful
 * when end - start >= max, or when `end` is the end of the input.
 */
export function cutPoint(
  buf: Uint8Array,
  start: number,
  end: number,
  p: ChunkParams = DEFAULT_CHUNK_PARAMS,
): number {
  let n = end - start
  if (n <= p.min) return n
  if (n > p.max) n = p.max
  const cut = gearScan(buf, start + p.min, start + Math.min(n, p.avg), start + n, 0, masksFor(p.avg))
  return cut >= 0 ? cut - start : n
}

/**
 * Streaming chunker: feed pieces of any size, get chunks. The same bytes give
 * the same chunks however they are split into pieces. A chunk is emitted as
 * soon as its cut is certain (the Gear scan hit the mask, or reached max), so
 * a caller re-chunking a region sees each boundary after reading only the
 * bytes that decide it; the scan resumes where it stopped, so every byte is
 * hashed once even when pieces are tiny.
 *
 * Yielded chunks are VIEWS into an internal buffer, valid only until the
 * generator is resumed or `push`/`finish` is called again: copy or consume them
 * at once.
 */
export class Chunker {
  private readonly params: ChunkParams
  private readonly masks: Masks
  private buf: Uint8Array
  /** Largest the buffer grows to; it starts small so chunking a small file allocates little. */
  private readonly cap: number
  private start = 0
  private end = 0
  /** Where the scan of the current chunk resumes (-1: not started) and its hash so far. */
  private scan = -1
  private hash = 0

  constructor(params: ChunkParams = DEFAULT_CHUNK_PARAMS, bufferSize = 4 * 1024 * 1024) {
    checkParams(params)
    this.params = { ...params }
    this.masks = masksFor(params.avg)
    this.cap = Math.max(bufferSize, 2 * params.max)
    this.buf = new Uint8Array(Math.min(this.cap, 64 * 1024))
  }

  /** Bytes buffered and not yet emitted. */
  get pending(): number {
    return this.end - this.start
  }

  *push(piece: Uint8Array): Generator<Uint8Array, void, undefined> {
    let off = 0
    while (off < piece.length) {
      if (this.end === this.buf.length) this.makeRoom()
      const n = Math.min(this.buf.length - this.end, piece.length - off)
      this.buf.set(piece.subarray(off, off + n), this.end)
      this.end += n
      off += n
      yield* this.cuts(false)
    }
  }

  /** Emit what remains at the end of the input. */
  *finish(): Generator<Uint8Array, void, undefined> {
    yield* this.cuts(true)
    this.start = 0
    this.end = 0
  }

  private *cuts(eof: boolean): Generator<Uint8Array, void, undefined> {
    for (;;) {
      const c = this.nextCut(eof)
      if (c <= 0) return
      const s = this.start
      this.start += c
      this.scan = -1
      this.hash = 0
      yield this.buf.subarray(s, s + c)
    }
  }

  /** Length of the chunk at `start` if certain now, else 0 (more input needed) — same cuts as `cutPoint`. */
  private nextCut(eof: boolean): number {
    const { min, avg, max } = this.params
    const n = this.end - this.start
    if (n === 0) return 0
    // The first byte hashed is at start+min: before it is buffered nothing is decided.
    if (n <= min) return eof ? n : 0
    const limit = this.start + Math.min(n, max)
    const from = this.scan < 0 ? this.start + min : this.scan
    const cut = gearScan(this.buf, from, Math.min(this.start + avg, limit), limit, this.hash, this.masks)
    if (cut >= 0) return cut - this.start
    if (n >= max) return max
    if (eof) return n
    this.scan = limit
    this.hash = scanHash
    return 0
  }

  /**
   * Room for more input: grow while the buffer is below its cap and mostly
   * pending bytes, else move the pending bytes to the front. At the cap (at
   * least 2 × max) a full buffer always has a consumed prefix to reclaim,
   * because a chunk is cut whenever max bytes are pending.
   */
  private makeRoom(): void {
    if (this.buf.length < this.cap && this.start < this.buf.length / 2) {
      const next = new Uint8Array(Math.min(this.cap, this.buf.length * 2))
      next.set(this.buf.subarray(0, this.end))
      this.buf = next
    } else {
      this.compact()
    }
  }

  private compact(): void {
    this.buf.copyWithin(0, this.start, this.end)
    if (this.scan >= 0) this.scan -= this.start
    this.end -= this.start
    this.start = 0
  }
}

/** Chunk lengths of a whole buffer (convenience for tests and tools). */
export function chunkLengths(data: Uint8Array, params: ChunkParams = DEFAULT_CHUNK_PARAMS): number[] {
  checkParams(params)
  const out: number[] = []
  let s = 0
  while (s < data.length) {
    const c = cutPoint(data, s, data.length, params)
    out.push(c)
    s += c
  }
  return out
}
