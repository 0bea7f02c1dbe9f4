/**
 * Two volumes of one tree, their path trees synced with `syncTrees` and
 * their chunks copied between stores (what replication does): remote writes,
 * concurrent writes and conflict copies, history, gc, and open handles
 * meeting remote changes as docs/SEMANTICS.md specifies.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDiskVolume, openMemoryVolume } from '../../node/open-tree.js'
import type { TreeVolume } from '../../node/volume.js'
import type { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { syncTrees } from '../../sync/sync-trees.js'
import { type Teardown, tmpDir } from '../helpers/tmp.js'
import { collect, dec, enc, put, readAll, rejects } from './helpers.js'

const { O_RDONLY, O_RDWR } = constants
const KEY = new Uint8Array(32).fill(9)

async function pair(t: Teardown) {
  const ra = new ManualRuntime(1)
  const rb = new ManualRuntime(2)
  const a = await openMemoryVolume({ nodeId: 'alice-node', key: KEY, runtime: ra })
  const b = await openMemoryVolume({ nodeId: 'bob-node', key: KEY, runtime: rb })
  t.after(async () => {
    await a.close().catch(() => {})
    await b.close().catch(() => {})
  })
  return { a, b, ra, rb }
}

/** Copy every chunk `to` lacks for content its tree references, from `from`. */
async function copyChunks(from: TreeVolume, to: TreeVolume): Promise<void> {
  for (;;) {
    let copied = 0
    for (const v of [...to.tree.allContent()]) {
      for (const id of await to.store.missing(v.ref)) {
        const data = from.store.getStored(id)
        if (data && to.store.putVerified(id, data)) copied++
      }
    }
    if (copied === 0) return
  }
}

async function sync(a: TreeVolume, b: TreeVolume): Promise<void> {
  syncTrees(a.tree as AutomergePathTree, b.tree as AutomergePathTree)
  await copyChunks(a, b)
  await copyChunks(b, a)
}

async function listing(v: TreeVolume, path = '/'): Promise<string[]> {
  return (await v.readdir(path)).entries.map((e) => e.name)
}

test('a write on one replica appears on the other', async (t) => {
  const { a, b } = await pair(t)
  await a.mkdir('/docs', 0o755)
  await put(a, '/docs/note.txt', 'from alice', 0o600)
  await sync(a, b)
  assert.deepEqual(await listing(b, '/docs'), ['note.txt'])
  const attr = await b.lookup('/docs/note.txt')
  assert.equal(attr.mode & 0o777, 0o600)
  assert.equal(attr.ino, (await a.lookup('/docs/note.txt')).ino, 'inode numbers agree across replicas')
  assert.equal(dec(await readAll(b, '/docs/note.txt')), 'from alice')
  await b.rename('/docs/note.txt', '/docs/renamed.txt')
  await sync(a, b)
  assert.deepEqual(await listing(a, '/docs'), ['renamed.txt'])
})

test('concurrent writes give a conflict copy; resolve settles it on both', async (t) => {
  const { a, b, rb } = await pair(t)
  await put(a, '/report.txt', 'base')
  await sync(a, b)
  await put(a, '/report.txt', 'alice version')
  rb.advance(60_000)
  await put(b, '/report.txt', 'bob version')
  await sync(a, b)
  const names = await listing(a)
  assert.deepEqual(names, await listing(b), 'replicas agree')
  assert.equal(names.length, 2, `one winner and one copy: ${names}`)
  const copyName = names.find((n) => n.includes('.conflict-'))!
  assert.match(
    copyName,
    /^report\.conflict-[a-z]+-node-\d{8}-\d{6}\.txt$|^report\.conflict-.{8}-\d{8}-\d{6}\.txt$/,
  )
  const winner = dec(await readAll(a, '/report.txt'))
  const loser = dec(await readAll(a, `/${copyName}`))
  assert.deepEqual([winner, loser].sort(), ['alice version', 'bob version'])
  assert.equal(dec(await readAll(b, `/${copyName}`)), loser)
  const copyAttr = await a.lookup(`/${copyName}`)
  assert.equal(copyAttr.mode & 0o222, 0, 'conflict copies are read-only')
  assert.notEqual(copyAttr.ino, (await a.lookup('/report.txt')).ino)
  await rejects(a.open(`/${copyName}`, O_RDWR), 'EROFS')
  await rejects(a.truncate(`/${copyName}`, 0), 'EROFS')
  await rejects(a.rename(`/${copyName}`, '/x'), 'EROFS')

  const conflicts = await a.conflicts()
  assert.equal(conflicts.length, 1)
  assert.equal(conflicts[0]!.path, '/report.txt')
  assert.equal(conflicts[0]!.copies.length, 1)
  const keep = conflicts[0]!.copies[0]!.version
  const history = await a.history('/report.txt')
  assert.ok(history.some((h) => h.node === 'alice-node' && h.op === 'write'))
  assert.ok(
    history.some((h) => h.node === 'bob-node' && h.op === 'write'),
    'history lists both writers',
  )

  await b.resolve('/report.txt', keep)
  await sync(a, b)
  for (const v of [a, b]) {
    assert.deepEqual(await listing(v), ['report.txt'])
    assert.equal(dec(await readAll(v, '/report.txt')), loser)
    assert.deepEqual(await v.conflicts(), [])
  }
})

test('unlink of a conflict copy resolves in favour of the winner', async (t) => {
  const { a, b } = await pair(t)
  await put(a, '/f', 'base')
  await sync(a, b)
  await put(a, '/f', 'one')
  await put(b, '/f', 'two')
  await sync(a, b)
  const copy = (await listing(b)).find((n) => n.includes('.conflict-'))!
  const winner = dec(await readAll(b, '/f'))
  await b.unlink(`/${copy}`)
  await sync(a, b)
  for (const v of [a, b]) {
    assert.deepEqual(await listing(v), ['f'])
    assert.equal(dec(await readAll(v, '/f')), winner)
  }
})

test('history and readAt across replicas; gc after sync keeps every version', async (t) => {
  const { a, b, ra } = await pair(t)
  await put(a, '/h', 'base')
  await sync(a, b)
  // A backlog of versions B has not seen; it receives them in one sync.
  const versions = ['first', 'second', 'third']
  for (const text of versions) {
    ra.advance(1000)
    await put(a, '/h', text.repeat(20_000))
  }
  await sync(a, b)
  const history = await b.history('/h')
  assert.deepEqual(
    history.map((h) => [h.op, h.node]),
    [
      ['write', 'alice-node'],
      ['write', 'alice-node'],
      ['write', 'alice-node'],
      ['create', 'alice-node'],
    ],
  )
  const before = b.store.stats()
  const report = await b.gc()
  assert.equal(report.deletedChunks, 0, 'received versions, overwritten ones included, are retained')
  assert.equal(b.store.stats().chunks, before.chunks)
  const texts = []
  for (const h of history) texts.push(dec(await collect(b.readAt('/h', h.version))).slice(0, 6))
  assert.deepEqual(texts, ['thirdt', 'second', 'firstf', 'base'])
  assert.deepEqual((await b.verify()).missing, [])
})

test('a replica that joins later reads versions overwritten before it joined from a peer', async (t) => {
  const ra = new ManualRuntime(5)
  const a = await openMemoryVolume({ nodeId: 'alice-node', key: KEY, runtime: ra })
  t.after(() => a.close().catch(() => {}))
  // On-demand fetch, as replication wires it: B asks A for chunks it lacks.
  const b = await openMemoryVolume({
    nodeId: 'bob-node',
    key: KEY,
    runtime: new ManualRuntime(6),
    fetchMissing: async (id) => a.store.getStored(id),
  })
  t.after(() => b.close().catch(() => {}))
  await put(a, '/h', 'old version')
  ra.advance(1000)
  await put(a, '/h', 'new version')
  await sync(a, b)
  const history = await b.history('/h')
  assert.equal(history.length, 2)
  assert.equal(dec(await collect(b.readAt('/h', history[1]!.version))), 'old version')
  assert.equal(dec(await readAll(b, '/h')), 'new version')
})

test('open handles meet remote changes as SEMANTICS.md says', async (t) => {
  const { a, b, rb } = await pair(t)
  await put(a, '/shared', '0123456789')
  await sync(a, b)
  const reader = await b.open('/shared', O_RDONLY)
  const writer = await b.open('/shared', O_RDWR)
  await b.write(writer, 0, enc('bb'))
  // A remote write is merged while both handles are open.
  await put(a, '/shared', 'ABCDEFGHIJKL')
  await sync(a, b)
  assert.equal(dec(await b.read(reader, 0, 100)), 'ABCDEFGHIJKL', 'a reader sees merged content')
  assert.equal(dec(await b.read(writer, 0, 100)), 'bbCDEFGHIJKL', 'own extents stay on top of merged content')
  // Committing after the merge supersedes the remote version: no conflict.
  rb.advance(1000)
  await b.release(writer)
  await sync(a, b)
  for (const v of [a, b]) {
    assert.deepEqual(await listing(v), ['shared'])
    assert.equal(dec(await readAll(v, '/shared')), 'bbCDEFGHIJKL')
  }
  await b.release(reader)

  // A remote delete: the local reader keeps the version it saw; a later local commit is discarded.
  const r2 = await b.open('/shared', O_RDONLY)
  const w2 = await b.open('/shared', O_RDWR)
  await b.write(w2, 0, enc('zz'))
  await a.unlink('/shared')
  await sync(a, b)
  await rejects(b.lookup('/shared'), 'ENOENT')
  assert.equal(dec(await b.read(r2, 0, 100)), 'bbCDEFGHIJKL')
  await b.release(w2)
  await b.release(r2)
  await sync(a, b)
  for (const v of [a, b]) assert.deepEqual(await listing(v), [])
})

test('remote content is retained exactly once, also across a restart', async (t) => {
  const root = tmpDir(t)
  const ra = new ManualRuntime(3)
  const a = await openMemoryVolume({ nodeId: 'alice-node', key: KEY, runtime: ra })
  t.after(() => a.close().catch(() => {}))
  const opts = { dir: join(root, 'b'), nodeId: 'bob-node', key: KEY, runtime: new ManualRuntime(4) }
  let b = await openDiskVolume(opts)
  t.after(() => b.close().catch(() => {}))
  await put(a, '/x', 'x'.repeat(50_000))
  await put(a, '/y', 'y'.repeat(70_000))
  await sync(a, b)
  const logical = b.store.stats().logicalBytes
  assert.equal(logical, 120_000, 'each received version retained once')
  await b.gc()
  await b.close()
  b = await openDiskVolume(opts)
  assert.equal(b.store.stats().logicalBytes, logical, 'a restart does not retain again')
  await b.gc()
  assert.equal(dec(await readAll(b, '/y')).length, 70_000)
})
