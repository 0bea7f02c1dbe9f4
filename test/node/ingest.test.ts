/**
 * Sequential ingest (node/ingest.ts): a file written front to back reaches
 * the store while it is written; anything else falls back to the commit's
 * rewrite, with the same bytes either way, and abandoned ingests leave
 * nothing behind after gc.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { test } from 'node:test'
import { INGEST_FROM, SequentialIngest } from '../../node/ingest.js'
import { openMemoryVolume } from '../../node/open-tree.js'
import { MemoryStaging } from '../../node/staging.js'
import type { TreeVolume } from '../../node/volume.js'
import { createContentStore, MemoryChunkBackend } from '../../store/index.js'
import { systemRuntime } from '../../sync/runtime.js'
import { pattern, put, readAll } from './helpers.js'

const { O_CREAT, O_WRONLY, O_RDWR, O_TRUNC } = constants
const MiB = 1024 * 1024
const PIECE = 128 * 1024

async function volume(t: { after: (fn: () => Promise<void>) => void }): Promise<TreeVolume> {
  const v = await openMemoryVolume({ nodeId: 'n', key: randomBytes(32), runtime: systemRuntime() })
  t.after(() => v.close())
  return v
}

/** Write `data` at `at` in PIECE-sized writes, in order. */
async function writeInOrder(v: TreeVolume, fh: number, data: Uint8Array, at = 0): Promise<void> {
  for (let o = 0; o < data.length; o += PIECE) await v.write(fh, at + o, data.subarray(o, o + PIECE))
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

/** Chunks still stored after gc beyond those of the live files. */
async function leftovers(v: TreeVolume, paths: string[]): Promise<number> {
  await v.gc()
  const live = new Set<string>()
  for (const p of paths) {
    const e = v.tree.resolve(p)
    if (e?.content) for (const id of await v.store.chunkIds(e.content.ref)) live.add(id)
  }
  return v.store.stats().chunks - live.size
}

test('SequentialIngest: the same FileRef as writing the bytes at once; out of order or short gives none', async () => {
  const store = createContentStore(new MemoryChunkBackend(), { key: randomBytes(32) })
  const staging = new MemoryStaging()
  const data = pattern(3 * MiB + 12345, 1)
  const expected = await store.write(data)

  const file = await staging.create()
  const ing = new SequentialIngest(store, file)
  for (let o = 0; o < data.length; o += PIECE) {
    const piece = Buffer.from(data.subarray(o, o + PIECE))
    await file.write(o, piece)
    await ing.wrote(o, piece)
    piece.fill(0) // the caller may reuse its buffer once the write returned
  }
  assert.equal(ing.length, data.length)
  assert.deepEqual(await ing.take(data.length), expected)
  assert.equal(ing.alive, false)

  // Neighbouring writes swapped, as libfuse's threads deliver them: still one in-order stream.
  const swapped = new SequentialIngest(store, file)
  const starts: number[] = []
  for (let o = 0; o < data.length; o += PIECE) starts.push(o)
  for (let i = 0; i + 1 < starts.length; i += 2) [starts[i], starts[i + 1]] = [starts[i + 1]!, starts[i]!]
  for (const o of starts) await swapped.wrote(o, data.subarray(o, o + PIECE))
  assert.deepEqual(await swapped.take(data.length), expected)

  // A gap never filled: held, then refused at the end.
  const gap = new SequentialIngest(store, file)
  await gap.wrote(0, data.subarray(0, INGEST_FROM))
  await gap.wrote(INGEST_FROM + 1, data.subarray(0, 10))
  assert.equal(await gap.take(INGEST_FROM + 11), undefined)
  assert.equal(gap.alive, false)

  // A jump far ahead, or back into what was written, ends the ingest at once.
  const jump = new SequentialIngest(store, file)
  await jump.wrote(0, data.subarray(0, INGEST_FROM))
  await jump.wrote(INGEST_FROM + 64 * MiB, data.subarray(0, 10))
  assert.equal(jump.alive, false)
  const back = new SequentialIngest(store, file)
  await back.wrote(0, data.subarray(0, INGEST_FROM))
  await back.wrote(10, data.subarray(0, 10))
  assert.equal(back.alive, false)

  const short = new SequentialIngest(store, file)
  await short.wrote(0, data.subarray(0, 2 * MiB))
  assert.equal(await short.take(3 * MiB), undefined, 'a size other than what was ingested')

  const truncated = new SequentialIngest(store, file)
  truncated.truncated(0)
  await truncated.wrote(0, data.subarray(0, 2 * MiB))
  truncated.truncated(MiB)
  assert.equal(truncated.alive, false)
})

test('volume: a file written in order is stored while it is written, and reads back intact', async (t) => {
  const v = await volume(t)
  // Past one store batch (8 MiB): the first batches are committed while the file is written.
  const data = pattern(12 * MiB + 777, 2)
  const { fh } = await v.create('/big', 0o644, O_CREAT | O_WRONLY | O_TRUNC)
  await writeInOrder(v, fh, data)
  assert.ok(v.store.stats().chunks > 20, 'chunks reached the store before the close')
  await v.release(fh)
  assert.ok(same(await readAll(v, '/big'), data))
  assert.equal(await leftovers(v, ['/big']), 0)
})

test('volume: out-of-order writes, truncates and old tails fall back to the usual commit', async (t) => {
  const v = await volume(t)
  const old = pattern(6 * MiB, 3)
  const data = pattern(3 * MiB, 4)

  // In order over a longer file, without O_TRUNC: the old tail stays.
  await put(v, '/keep-tail', old)
  let fh = await v.open('/keep-tail', O_RDWR)
  await writeInOrder(v, fh, data)
  await v.release(fh)
  const tail = new Uint8Array(old)
  tail.set(data)
  assert.ok(same(await readAll(v, '/keep-tail'), tail))

  // O_TRUNC over the longer file: only the new bytes.
  await put(v, '/trunc', old)
  fh = await v.open('/trunc', O_WRONLY | O_TRUNC)
  await writeInOrder(v, fh, data)
  await v.release(fh)
  assert.ok(same(await readAll(v, '/trunc'), data))

  // fsync in the middle, then more in order: two commits, one file.
  fh = (await v.create('/synced', 0o644, O_CREAT | O_WRONLY | O_TRUNC)).fh
  await writeInOrder(v, fh, data.subarray(0, 2 * MiB))
  await v.fsync(fh)
  await writeInOrder(v, fh, data.subarray(2 * MiB), 2 * MiB)
  await v.release(fh)
  assert.ok(same(await readAll(v, '/synced'), data))

  assert.deepEqual(await v.store.verify(), { checked: v.store.stats().chunks, corrupt: [], missing: [] })
})

test('volume: abandoned ingests (a patch, a truncate, an unlink) leave no chunks after gc', async (t) => {
  const v = await volume(t)
  const data = pattern(3 * MiB, 5)
  let fh: number

  // In order, then a patch near the start.
  fh = (await v.create('/patched', 0o644, O_CREAT | O_WRONLY | O_TRUNC)).fh
  await writeInOrder(v, fh, data)
  await v.write(fh, 1000, Uint8Array.of(1, 2, 3))
  await v.release(fh)
  const patched = new Uint8Array(data)
  patched.set([1, 2, 3], 1000)
  assert.ok(same(await readAll(v, '/patched'), patched))

  // In order, then cut short.
  fh = (await v.create('/cut', 0o644, O_CREAT | O_WRONLY | O_TRUNC)).fh
  await writeInOrder(v, fh, data)
  await v.truncate('/cut', 2 * MiB + 5, fh)
  await v.release(fh)
  assert.ok(same(await readAll(v, '/cut'), data.subarray(0, 2 * MiB + 5)))

  // Written in order, then unlinked before the close: nothing is resurrected.
  fh = (await v.create('/gone', 0o644, O_CREAT | O_WRONLY | O_TRUNC)).fh
  await writeInOrder(v, fh, data)
  await v.unlink('/gone')
  await v.release(fh)
  assert.equal(v.tree.resolve('/gone'), undefined)

  assert.equal(await leftovers(v, ['/patched', '/cut']), 0)
})
