/** Helpers shared by the store tests: seeded data, sources, hashing. */
import { createHash } from 'node:crypto'
import type { RandomAccessSource } from '../../store/index.js'

/** Deterministic pseudo-random bytes (xorshift32), fast enough for tens of MiB. */
export function seededBytes(n: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4))
  let x = seed >>> 0 || 0x2545f491
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return new Uint8Array(words.buffer, 0, n)
}

/** A small seeded PRNG for offsets and sizes. */
export function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1
  return (n) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

/** Yield `data` in pieces whose sizes cycle through `sizes`. */
export async function* piecesOf(data: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
  let o = 0
  let i = 0
  while (o < data.length) {
    const n = Math.min(sizes[i++ % sizes.length]!, data.length - o)
    yield data.slice(o, o + n)
    o += n
  }
}

export function bufferSource(data: Uint8Array): RandomAccessSource & { reads: number; bytesRead: number } {
  const src = {
    size: data.length,
    reads: 0,
    bytesRead: 0,
    async read(offset: number, length: number): Promise<Uint8Array> {
      src.reads++
      const out = data.slice(offset, Math.min(offset + length, data.length))
      src.bytesRead += out.length
      return out
    },
  }
  return src
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(Uint8Array.from(p))
  return Buffer.concat(parts)
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  )
}
