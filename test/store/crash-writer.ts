/**
 * Child process for crash.test.ts: writes files of random sizes into a SQLite
 * store in a loop until killed. After each write has resolved AND been
 * retained it prints "done <name> <id> <size> <sha256>". Some writes are
 * dropped instead (orphans for gc) and gc runs now and then, so a SIGKILL can
 * land in any of these phases.
 *
 * Usage: node crash-writer.js <db path> <seed> [split|packs]
 * (`split`: chunk blobs in `<db path>.chunks`; `packs`: as a volume keeps them — small batches
 * inline in the metadata database at synchronous=NORMAL, larger ones in pack files under
 * `<db path>.packs`, received copies in `<db path>.chunks`, sealing on the worker thread).
 */
import { createHash } from 'node:crypto'
import { writeSync } from 'node:fs'
import { createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { prng, seededBytes } from './util.js'

export const CRASH_KEY = new Uint8Array(32).fill(42)

export type CrashMode = 'one' | 'split' | 'packs'

/** The backend over `path` (and `<path>.chunks`, `<path>.packs` by mode), owning its databases. */
export function openCrashBackend(path: string, mode: CrashMode): SqliteChunkBackend {
  const db = openStoreDatabase(path, mode === 'one' ? {} : { pageSize: 4096 })
  if (mode === 'one') return new SqliteChunkBackend(db, { ownsDatabase: true })
  const chunkDb = openStoreDatabase(`${path}.chunks`, { chunksOnly: true })
  if (mode === 'split') return new SqliteChunkBackend(db, { ownsDatabase: true, chunkDb })
  db.pragma('synchronous = NORMAL')
  return new SqliteChunkBackend(db, {
    ownsDatabase: true,
    chunkDb,
    inlineMax: 256 * 1024,
    packDir: `${path}.packs`,
  })
}

async function* pieces(data: Uint8Array, rnd: (n: number) => number): AsyncIterable<Uint8Array> {
  let o = 0
  while (o < data.length) {
    const n = Math.min(1 + rnd(200_000), data.length - o)
    yield data.subarray(o, o + n)
    o += n
    // Let the event loop turn so the kill can land between batches.
    await new Promise((resolve) => setImmediate(resolve))
  }
}

async function main(): Promise<void> {
  const [path, seedArg, mode] = process.argv.slice(2)
  if (!path || !seedArg) throw new Error('usage: crash-writer <db> <seed> [split|packs]')
  const seed = Number(seedArg)
  const rnd = prng(seed)
  const store = createContentStore(openCrashBackend(path, (mode as CrashMode | undefined) ?? 'one'), {
    key: CRASH_KEY,
    batchBytes: 512 * 1024,
    // As a volume: streamed writes chunked and sealed on the worker thread.
    offload: mode === 'packs',
  })
  for (let i = 0; ; i++) {
    const size = rnd(4) === 0 ? rnd(3 * 1024 * 1024) : rnd(200_000)
    const data = seededBytes(size, seed * 7919 + i)
    const ref = await store.write(pieces(data, rnd))
    if (rnd(5) === 0) {
      store.drop(ref)
    } else {
      store.retain(ref)
      const sha = createHash('sha256').update(data).digest('hex')
      // Synchronous write: the line must not sit in a userland buffer.
      writeSync(1, `done s${seed}-${i} ${ref.id} ${ref.size} ${sha}\n`)
    }
    if (rnd(8) === 0) await store.gc()
  }
}

if (process.argv[1]?.endsWith('crash-writer.js')) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
