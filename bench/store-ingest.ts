/**
 * Content store ingest and read, beside baselines measured in the same run:
 *  1. ingest a file on disk (FastCDC + BLAKE3 + XChaCha20-Poly1305 on the
 *     seal worker, chunk bytes into pack files, index rows into SQLite: a
 *     disk volume's layout), MB/s and CPU per MiB (whole process and the main
 *     thread alone), beside `b3sum` hashing the same file (Debian package
 *     b3sum; skipped with a note when absent);
 *  2. sequential read of the stored file (verify + decrypt), MB/s, beside
 *     reading the file from disk with fs streams.
 *
 * Usage: node dist/bench/store-ingest.js [--quick] [--size-mib N]
 */
import { spawnSync } from 'node:child_process'
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContentStore, openStoreDatabase, SqliteChunkBackend } from '../store/index.js'
import { benchArgs } from './args.js'

const MiB = 1024 * 1024
const opts = benchArgs('store-ingest', 'Ingest and sequential read of one file, beside b3sum and fs reads.', {
  'size-mib': { full: [1024], quick: [16], help: 'file size in MiB' },
})
const quick = opts.quick
const sizeMiB = opts['size-mib'][0]!

/** CPU ms of the main thread alone (Linux: /proc; utime + stime in 10 ms ticks), NaN elsewhere. */
function mainThreadMs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) * 10
  } catch {
    return Number.NaN
  }
}

const secs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9
const mbps = (bytes: number, s: number): string => `${(bytes / 1e6 / s).toFixed(0)} MB/s`

/** Pseudo-random file content (xorshift), written in 8 MiB blocks. */
async function makeFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w')
  const words = new Uint32Array((8 * MiB) / 4)
  let x = 0x1234567
  try {
    for (let done = 0; done < bytes; done += 8 * MiB) {
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        words[i] = x >>> 0
      }
      await fh.write(new Uint8Array(words.buffer, 0, Math.min(8 * MiB, bytes - done)))
    }
  } finally {
    await fh.close()
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bt-bench-store-'))
  try {
    const file = join(dir, 'input.bin')
    const bytes = sizeMiB * MiB
    await makeFile(file, bytes)
    console.log(`store-ingest: ${sizeMiB} MiB file${quick ? ' (quick)' : ''}`)

    // Warm the page cache so neither side pays for the disk.
    for await (const _ of createReadStream(file, { highWaterMark: MiB })) void _

    let t0 = process.hrtime.bigint()
    const b3 = spawnSync('b3sum', ['--no-names', file], { encoding: 'utf8' })
    const b3s = secs(t0)
    if (b3.error || b3.status !== 0)
      console.log('  baseline b3sum: not installed (apt-get install b3sum), skipped')
    else
      console.log(`  baseline b3sum (hash only, multi-threaded): ${mbps(bytes, b3s)}  (${b3s.toFixed(2)} s)`)

    // The layout of a volume (node/open-tree.ts): metadata in tree.db (4 KiB pages, NORMAL),
    // small blobs inline, large batches in pack files, received copies in chunks.db; sealing on
    // the worker thread.
    const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
    const treeDb = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
    treeDb.pragma('synchronous = NORMAL')
    const store = createContentStore(
      new SqliteChunkBackend(treeDb, {
        ownsDatabase: true,
        chunkDb,
        inlineMax: 256 * 1024,
        packDir: join(dir, 'packs'),
      }),
      { key: new Uint8Array(32).fill(3), offload: true },
    )
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    const sampled = async function* (it: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
      for await (const piece of it) {
        peak = Math.max(peak, process.memoryUsage().rss)
        yield piece
      }
    }
    t0 = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    const main0 = mainThreadMs()
    const ref = await store.write(sampled(createReadStream(file, { highWaterMark: MiB })), { owned: true })
    const ingest = secs(t0)
    const cpu = process.cpuUsage(cpu0)
    const mainMs = mainThreadMs() - main0
    store.retain(ref)
    const stats = store.stats()
    console.log(
      `  ours ingest (chunk+hash+encrypt on the worker, packs): ${mbps(bytes, ingest)}  (${ingest.toFixed(2)} s, ${stats.chunks} chunks)`,
    )
    console.log(
      `  ours ingest CPU: ${((cpu.user + cpu.system) / 1000 / sizeMiB).toFixed(2)} ms/MiB in all, ${(mainMs / sizeMiB).toFixed(2)} ms/MiB on the main thread`,
    )

    t0 = process.hrtime.bigint()
    let n = 0
    for await (const piece of createReadStream(file, { highWaterMark: MiB })) n += (piece as Buffer).length
    const fsRead = secs(t0)
    console.log(`  baseline fs.createReadStream read: ${mbps(n, fsRead)}`)

    t0 = process.hrtime.bigint()
    n = 0
    for await (const piece of sampled(store.stream(ref))) n += piece.length
    const ours = secs(t0)
    if (n !== bytes) throw new Error(`read ${n} bytes, expected ${bytes}`)
    console.log(`  ours sequential read (verify+decrypt): ${mbps(n, ours)}`)
    console.log(`  peak RSS growth during ingest and read: ${((peak - rss0) / MiB).toFixed(0)} MiB`)
    store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
