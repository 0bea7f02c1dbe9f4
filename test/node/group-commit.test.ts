/**
 * Group commit (sync/redo.ts): closes staged as redo rows survive SIGKILL and
 * are journaled on the next open; staged closes are journaled before history
 * is read, each content version as its own change; the view's counts and a
 * reopened volume see them.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openDiskVolume } from '../../node/open-tree.js'
import type { TreeVolume } from '../../node/volume.js'
import type { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { pattern, readAll, runUntilKilled } from './helpers.js'

const WRITER = fileURLToPath(new URL('./fixtures/staged-writer.js', import.meta.url))
const KEY = new Uint8Array(32).fill(5)

/** Redo rows waiting in a volume's database. */
function redoRows(v: TreeVolume): number {
  const db = (v.tree as unknown as { storage: { db: { prepare(s: string): { get(): unknown } } } }).storage.db
  return (db.prepare('SELECT count(*) AS n FROM tree_redo').get() as { n: number }).n
}

test('closes staged in the redo log survive SIGKILL and are journaled at the next open', {
  timeout: 120_000,
}, async (t) => {
  const dir = join(tmpDir(t), 'vol')
  const acked = await runUntilKilled(t, WRITER, dir, (n, child) => {
    if (n >= 40) child.kill('SIGKILL')
  })
  const v = await openDiskVolume({ dir, nodeId: 'checker', key: KEY, runtime: new ManualRuntime(1) })
  t.after(() => v.close())
  const tree = v.tree as AutomergePathTree
  assert.equal(tree.redoSkipped, 0, 'every staged entry applied')
  assert.equal(redoRows(v), 0, 'the replay committed and removed the log')
  for (let i = 0; i <= acked; i++) {
    const want = i % 3 === 0 ? pattern(50 + i, i + 500) : pattern(100 + i, i + 1)
    assert.deepEqual(await readAll(v, `/d/f${i}`), want, `f${i} acknowledged`)
    const a = await v.lookup(`/d/f${i}`)
    assert.equal(a.mode & 0o7777, 0o640)
    const hist = await v.history(`/d/f${i}`)
    const ops = hist.map((h) => h.op).reverse()
    // One journal entry per change and inode: the creation with its first content, then the rewrite.
    assert.deepEqual(ops, i % 3 === 0 ? ['create', 'write'] : ['create'], `f${i} journaled`)
    if (i % 3 === 0) {
      assert.notEqual(hist[0]!.version, hist[1]!.version, 'each version its own change')
      const first = Buffer.concat(await collect(v.readAt(`/d/f${i}`, hist[1]!.version)))
      assert.deepEqual(new Uint8Array(first), pattern(100 + i, i + 1), 'the first version reads back')
    }
  }
  assert.deepEqual((await v.verify()).missing, [])
  await v.gc()
  assert.deepEqual((await v.verify()).missing, [])
  // The view was rebuilt and replayed consistently: equal to a rebuild from the documents.
  const before = tree.dumpView()
  tree.rebuildView()
  assert.deepEqual(tree.dumpView(), before)
})

test('staged closes: journaled by history, counted by statfs, committed by the timer and by close', {
  timeout: 60_000,
}, async (t) => {
  const dir = join(tmpDir(t), 'vol')
  const runtime = new ManualRuntime(3)
  const open = () =>
    openDiskVolume({ dir, nodeId: 'n', key: KEY, runtime, groupCommit: { delayMs: 5, maxAgeMs: 50 } })
  const v = await open()
  await v.mkdir('/d', 0o755)
  for (let i = 0; i < 3; i++) {
    const { fh } = await v.create(`/d/f${i}`, 0o644)
    await v.write(fh, 0, pattern(10, i))
    await v.release(fh)
  }
  assert.equal(redoRows(v), 6, 'three creates and three contents staged')
  assert.equal((await v.statfs()).files >= 4, true, 'statfs counts staged entries')
  assert.deepEqual(v.usage(), { files: 3, bytes: 30 })
  runtime.advance(10)
  assert.equal(redoRows(v), 0, 'the idle timer committed the group')
  const h = await v.history('/d/f2')
  assert.deepEqual(
    h.map((x) => x.op),
    ['create'],
  )
  // Staged again, then history commits first.
  await closeFile(v, '/d/f0', pattern(20, 9))
  assert.equal(redoRows(v), 1)
  assert.equal((await v.history('/d/f0'))[0]!.op, 'write')
  assert.equal(redoRows(v), 0)
  // Staged, then a namespace operation commits the group first (its own journal entry).
  await closeFile(v, '/d/f1', pattern(20, 8))
  await v.rename('/d/f1', '/d/g1')
  assert.equal(redoRows(v), 0)
  assert.deepEqual((await v.history('/d/g1')).map((x) => [x.op, x.path]).slice(0, 2), [
    ['move', '/d/g1'],
    ['write', '/d/f1'],
  ])
  // A whole-file write (bt put) is journaled at once.
  await v.writeFile('/d/w', pattern(20, 6))
  assert.equal(redoRows(v), 0)
  assert.equal((await v.history('/d/w'))[0]!.op, 'create')
  // Staged at close of the volume: committed then, nothing left to replay.
  await closeFile(v, '/d/f2', pattern(20, 7))
  assert.equal(redoRows(v), 1)
  await v.close()
  const again = await open()
  t.after(() => again.close())
  assert.equal(redoRows(again), 0)
  assert.deepEqual(await readAll(again, '/d/f2'), pattern(20, 7))
  assert.equal((await again.history('/d/f2'))[0]!.op, 'write')
})

/** Open (creating or truncating), write and close: one staged commit. */
async function closeFile(v: TreeVolume, path: string, data: Uint8Array): Promise<void> {
  const { fh } = await v.create(path, 0o644, constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC)
  await v.write(fh, 0, data)
  await v.release(fh)
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of it) out.push(c)
  return out
}
