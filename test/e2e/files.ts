/**
 * Large test content generated fast and never held whole in memory: the
 * AES-256-CTR keystream of a seed (GB/s through node:crypto, incompressible,
 * so content-defined chunking finds nothing to dedup), with its sha256 taken
 * while it is produced, so a 1 GiB source costs no second pass over a file.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

const PIECE = 1 << 20

/** `size` pseudo-random bytes of `seed`, produced piece by piece, hashed as they go. */
export class PseudoRandom {
  private readonly hash = createHash('sha256')
  private produced = 0
  private readonly slices: { start: number; end: number; parts: Buffer[] }[] = []

  constructor(
    readonly size: number,
    readonly seed = 1,
  ) {}

  /** Keep a copy of bytes [start, end) while streaming (to check a ranged read later). */
  keep(start: number, end: number): () => Buffer {
    if (this.produced > 0) throw new Error('keep() must be called before streaming')
    const s = { start, end, parts: [] as Buffer[] }
    this.slices.push(s)
    return () => Buffer.concat(s.parts)
  }

  /** The content, once (1 MiB pieces). */
  async *stream(): AsyncGenerator<Buffer> {
    if (this.produced > 0) throw new Error('PseudoRandom streams once')
    const key = createHash('sha256').update(`bt-e2e-${this.seed}`).digest()
    const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
    const zeros = Buffer.alloc(PIECE)
    for (let at = 0; at < this.size; at += PIECE) {
      const n = Math.min(PIECE, this.size - at)
      const piece = cipher.update(n === PIECE ? zeros : zeros.subarray(0, n))
      this.hash.update(piece)
      for (const s of this.slices) {
        const from = Math.max(s.start, at)
        const to = Math.min(s.end, at + n)
        if (from < to) s.parts.push(Buffer.from(piece.subarray(from - at, to - at)))
      }
      this.produced += n
      yield piece
    }
  }

  /** sha256 hex of the whole content (after it was streamed). */
  sha256(): string {
    if (this.produced !== this.size) throw new Error(`streamed ${this.produced} of ${this.size} bytes`)
    return this.hash.copy().digest('hex')
  }
}

/** Write `size` pseudo-random bytes of `seed` to `path`; resolves to their sha256 hex. */
export async function writePseudoRandomFile(path: string, size: number, seed = 1): Promise<string> {
  const src = new PseudoRandom(size, seed)
  const f = await open(path, 'w')
  try {
    for await (const piece of src.stream()) await f.write(piece)
  } finally {
    await f.close()
  }
  return src.sha256()
}

/** sha256 hex of a stream. */
export async function fileSha256(s: AsyncIterable<Uint8Array | string>): Promise<string> {
  const h = createHash('sha256')
  for await (const c of s) h.update(c)
  return h.digest('hex')
}
