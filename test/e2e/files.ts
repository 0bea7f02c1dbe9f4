/** Local test files of a given size, generated without holding them in memory, and their hashes. */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

/**
 * Write `size` pseudo-random bytes (xorshift from `seed`, each MiB varied so
 * content-defined chunking finds nothing to dedup) to `path`.
 */
export async function writePseudoRandomFile(path: string, size: number, seed = 1): Promise<void> {
  const piece = 1 << 20
  const block = Buffer.alloc(piece)
  let x = seed >>> 0 || 1
  for (let i = 0; i < piece; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    block.writeUInt32LE(x >>> 0, i)
  }
  const f = await open(path, 'w')
  try {
    for (let at = 0, n = 0; at < size; at += piece, n++) {
      // A different word every 4 KiB of each MiB: no two MiB share a chunk.
      for (let w = 0; w < piece; w += 4096) block.writeUInt32LE((n * 256 + w / 4096) >>> 0, w)
      await f.write(block, 0, Math.min(piece, size - at))
    }
  } finally {
    await f.close()
  }
}

/** sha256 hex of a stream. */
export async function fileSha256(s: AsyncIterable<Uint8Array | string>): Promise<string> {
  const h = createHash('sha256')
  for await (const c of s) h.update(c)
  return h.digest('hex')
}
