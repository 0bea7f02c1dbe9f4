/**
 * Copy-on-write dedup: change 1 MiB in the middle of a file, then store the
 * new version (a) with `rewrite` (re-chunks only around the edit) and (b) with
 * a full `write` of the whole new content (baseline: what a whole-file syncer
 * does). Reports new chunk bytes stored (goal < 2 MiB), source bytes read and
 * time for each, each in a fresh store holding the old version.
 *
 * Usage: node dist/bench/store-dedup.js [--quick] [--size-mib N]
 */
import {
  createContentStore,
  type FileRef,
  MemoryChunkBackend,
  type RandomAccessSource,
} from '../store/index.js'
import { benchArgs } from './args.js'

const MiB = 1024 * 1024
const opts = benchArgs('store-dedup', 'New chunk bytes stored after a 1 MiB edit in the middle of a file.', {
  'size-mib': { full: [256], quick: [8], help: 'file size in MiB' },
})
const quick = opts.quick
const sizeMiB = opts['size-mib'][0]!
const KEY = new Uint8Array(32).fill(5)

const secs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9

function bytes(n: number, seed: number): Uint8Array {
  const w = new Uint32Array(Math.ceil(n / 4))
  let x = seed
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    w[i] = x >>> 0
  }
  return new Uint8Array(w.buffer, 0, n)
}

async function main(): Promise<void> {
  const size = sizeMiB * MiB
  const base = bytes(size, 77)
  const edited = Uint8Array.from(base)
  const editAt = Math.floor(size / 2) + 4321
  const editLen = Math.min(MiB, size - editAt)
  edited.set(bytes(editLen, 78), editAt)
  console.log(`store-dedup: 1 MiB changed in the middle of a ${sizeMiB} MiB file${quick ? ' (quick)' : ''}`)

  const results: { name: string; ref: FileRef }[] = []
  for (const mode of ['full write', 'rewrite'] as const) {
    const store = createContentStore(new MemoryChunkBackend(), { key: KEY })
    const old = await store.write(base)
    store.retain(old)
    const before = store.stats().storedBytes
    let read = 0
    const source: RandomAccessSource = {
      size,
      read: async (offset, length) => {
        read += length
        return edited.subarray(offset, offset + length)
      },
    }
    const t0 = process.hrtime.bigint()
    const ref =
      mode === 'rewrite'
        ? await store.rewrite(old, source, [{ start: editAt, end: editAt + editLen }])
        : await store.write(edited)
    const s = secs(t0)
    if (mode === 'full write') read = size
    const added = store.stats().storedBytes - before
    const label = mode === 'rewrite' ? 'ours rewrite (copy-on-write)' : 'baseline full write (re-chunk all)'
    console.log(
      `  ${label}: new chunk bytes ${(added / MiB).toFixed(2)} MiB, source read ${(read / MiB).toFixed(2)} MiB, ${(s * 1000).toFixed(0)} ms`,
    )
    results.push({ name: mode, ref })
    store.close()
  }
  const same = results[0]!.ref.id === results[1]!.ref.id
  console.log(`  rewrite and full write give the same FileRef: ${same}`)
  if (!same) process.exit(1)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
