/** A corrupt or missing chunk under a file is EIO for readers, never wrong bytes. */
import assert from 'node:assert/strict'
import { constants, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { CHUNKS_DB, openDiskVolume, openMemoryVolume, PACKS_DIR, TREE_DB } from '../../node/open-tree.js'
import { MemoryChunkBackend } from '../../store/memory-backend.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { collect, pattern, readAll, rejects } from './helpers.js'

const { O_RDWR } = constants
const KEY = new Uint8Array(32).fill(5)

test('disk: a chunk corrupted on disk makes reads fail with EIO and verify name it', async (t) => {
  const dir = join(tmpDir(t), 'vol')
  const opts = { dir, nodeId: 'n1', key: KEY, runtime: new ManualRuntime(1) }
  let v = await openDiskVolume(opts)
  t.after(() => v.close().catch(() => {}))
  const data = pattern(400_000, 3)
  await v.writeFile('/f', data)
  await v.writeFile('/other', pattern(1000, 4))
  const ref = v.tree.resolve('/f')!.content!.ref
  const dataChunks = (await v.store.chunkIds(ref)).filter((id) => id !== ref.id)
  assert.ok(dataChunks.length >= 2)
  const victim = dataChunks[1]!
  await v.close()

  // The chunk lives in a pack file (large writes) or in chunks.db: flip one byte where it is.
  const meta = new Database(join(dir, TREE_DB), { readonly: true })
  const packed = meta.prepare('SELECT pack, off, len FROM store_packed WHERE id = ?').get(victim) as
    | { pack: number; off: number; len: number }
    | undefined
  meta.close()
  if (packed) {
    const path = join(dir, PACKS_DIR, `${packed.pack}.pack`)
    const bytes = readFileSync(path)
    bytes[packed.off + (packed.len >> 1)]! ^= 0x40
    writeFileSync(path, bytes)
  } else {
    const db = new Database(join(dir, CHUNKS_DB))
    const stored = db.prepare('SELECT data FROM store_chunks WHERE id = ?').pluck().get(victim) as Buffer
    stored[stored.length >> 1]! ^= 0x40
    db.prepare('UPDATE store_chunks SET data = ? WHERE id = ?').run(stored, victim)
    db.close()
  }

  v = await openDiskVolume(opts)
  await rejects(readAll(v, '/f'), 'EIO')
  await rejects(collect(v.readStream('/f')), 'EIO')
  const fh = await v.open('/f', O_RDWR)
  assert.deepEqual(await v.read(fh, 0, 10), data.subarray(0, 10), 'bytes outside the bad chunk still read')
  await v.write(fh, 0, Uint8Array.of(1, 2, 3))
  await rejects(v.fsync(fh), 'EIO')
  assert.deepEqual((await v.read(fh, 0, 3))[0], 1, 'a failed commit keeps the branch')
  await rejects(v.release(fh), 'EIO')
  assert.deepEqual(await readAll(v, '/other'), pattern(1000, 4), 'other files are unaffected')
  const report = await v.verify()
  assert.deepEqual(report.corrupt, [victim])
})

test('memory: a missing chunk is EIO too', async (t) => {
  const backend = new MemoryChunkBackend()
  const v = await openMemoryVolume({ nodeId: 'n1', key: KEY, runtime: new ManualRuntime(2), backend })
  t.after(() => v.close().catch(() => {}))
  await v.writeFile('/f', pattern(300_000, 6))
  const ref = v.tree.resolve('/f')!.content!.ref
  const victim = (await v.store.chunkIds(ref)).filter((id) => id !== ref.id)[0]!
  backend.deleteMany([victim])
  await rejects(readAll(v, '/f'), 'EIO')
  assert.deepEqual((await v.verify()).missing, [victim])
})
