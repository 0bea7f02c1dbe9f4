import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { syncTrees } from '../../sync/sync-trees.js'
import { LOST_FOUND, ROOT_ID } from '../../sync/types.js'
import { listing, memTree, version } from './helpers.js'

const file = { mode: 0o644, mtime: 1000 }
const dir = { mode: 0o755, mtime: 1000 }

/** Two or three replicas sharing an initial state. */
function replicas(n: number, shardLimit?: number) {
  const trees = ['alice', 'bob', 'carol']
    .slice(0, n)
    .map((id, i) => memTree(id, { seed: 100 + i, shardLimit }))
  return trees.map((t) => t.tree)
}

function syncAll(...ts: ReturnType<typeof replicas>) {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) syncTrees(ts[i]!, ts[j]!)
  }
  for (const t of ts.slice(1)) assert.deepEqual(t.dumpView(), ts[0]!.dumpView())
  for (const t of ts) {
    const incremental = t.dumpView()
    t.rebuildView()
    assert.deepEqual(t.dumpView(), incremental, 'incremental view equals rebuilt view')
  }
}

describe('conflict rules', () => {
  test('concurrent content writes: one keeps the name, the loser is a read-only conflict copy until resolved', () => {
    const [a, b] = replicas(2)
    const f = a!.create(ROOT_ID, 'report.txt', 'file', { ...file, content: version('alice', 1) })
    a!.commit()
    syncAll(a!, b!)
    const va = { ...version('alice', Date.UTC(2026, 0, 2, 3, 4, 5)), node: 'alice-node-1' }
    const vb = { ...version('bob', Date.UTC(2026, 0, 2, 3, 4, 6)), node: 'bob-node-22' }
    a!.setContent(f, va)
    a!.commit()
    b!.setContent(f, vb)
    b!.commit()
    syncAll(a!, b!)
    const main = a!.resolve('/report.txt')!
    const names = a!.readdir(ROOT_ID).map((e) => e.name)
    assert.equal(names.length, 2)
    const copy = a!.readdir(ROOT_ID).find((e) => e.conflict)!
    assert.equal(copy.ino, f)
    assert.equal(copy.conflict!.kind, 'content')
    const loser = copy.conflict!.version === va.write ? va : vb
    const winner = loser === va ? vb : va
    assert.deepEqual(main.content, winner)
    assert.deepEqual(copy.content, loser)
    assert.match(
      copy.name,
      new RegExp(`^report\\.conflict-${loser.node.slice(0, 8)}-20260102-03040[56]\\.txt$`),
    )
    assert.equal(copy.mode & 0o222, 0)
    const conflicts = b!.conflicts()
    assert.equal(conflicts.length, 1)
    assert.equal(conflicts[0]!.path, '/report.txt')
    assert.equal(conflicts[0]!.copies[0]!.version, loser.write)
    b!.resolveConflict(f, loser.write)
    b!.commit()
    syncAll(a!, b!)
    assert.deepEqual(a!.conflicts(), [])
    assert.deepEqual(a!.resolve('/report.txt')!.content, loser)
    assert.equal(a!.childCount(ROOT_ID), 1)
  })

  test('three concurrent writers give two conflict copies', () => {
    const [a, b, c] = replicas(3)
    const f = a!.create(ROOT_ID, 'x', 'file', file)
    a!.commit()
    syncAll(a!, b!, c!)
    for (const [t, n] of [
      [a!, 'alice'],
      [b!, 'bob'],
      [c!, 'carol'],
    ] as const) {
      t.setContent(f, version(n, 5))
      t.commit()
    }
    syncAll(a!, b!, c!)
    assert.equal(a!.childCount(ROOT_ID), 3)
    assert.equal(a!.conflicts()[0]!.copies.length, 2)
  })

  test('remove vs concurrent write: the write resurrects the file; a remove that saw the write wins', () => {
    const [a, b] = replicas(2)
    const f = a!.create(ROOT_ID, 'f', 'file', { ...file, content: version('alice', 1) })
    a!.commit()
    syncAll(a!, b!)
    a!.remove(f)
    a!.commit()
    const vb = version('bob', 2)
    b!.setContent(f, vb)
    b!.commit()
    syncAll(a!, b!)
    assert.deepEqual(a!.resolve('/f')!.content, vb)
    a!.remove(f)
    a!.commit()
    syncAll(a!, b!)
    assert.equal(b!.resolve('/f'), undefined)
  })

  test('duplicate names from concurrent creates: both visible, lowest (ctime, id) keeps the name', () => {
    const [a, b] = replicas(2)
    const fa = a!.create(ROOT_ID, 'notes.md', 'file', file)
    a!.commit()
    const fb = b!.create(ROOT_ID, 'notes.md', 'file', file)
    b!.commit()
    syncAll(a!, b!)
    const entries = a!.readdir(ROOT_ID)
    assert.equal(entries.length, 2)
    const plain = a!.lookup(ROOT_ID, 'notes.md')!
    const other = entries.find((e) => e.name !== 'notes.md')!
    assert.ok(plain.ino === fa || plain.ino === fb)
    assert.equal(other.conflict?.kind, 'name')
    assert.match(other.name, /^notes\.conflict-(alice|bob)-\d{8}-\d{6}\.md$/)
    const c = a!.conflicts()
    assert.equal(c.length, 1)
    assert.equal(c[0]!.kind, 'name')
    a!.resolveConflict(other.ino, 'renamed.md')
    a!.commit()
    syncAll(a!, b!)
    assert.deepEqual(
      b!.readdir(ROOT_ID).map((e) => e.name),
      ['notes.md', 'renamed.md'],
    )
    assert.deepEqual(b!.conflicts(), [])
  })

  test('move cycles (A into B, B into A) are broken deterministically, nothing lost', () => {
    const [a, b] = replicas(2)
    const da = a!.create(ROOT_ID, 'A', 'dir', dir)
    const db = a!.create(ROOT_ID, 'B', 'dir', dir)
    a!.create(da, 'inA', 'file', file)
    a!.create(db, 'inB', 'file', file)
    a!.commit()
    syncAll(a!, b!)
    a!.move(da, db, 'A')
    a!.commit()
    b!.move(db, da, 'B')
    b!.commit()
    syncAll(a!, b!)
    const l = listing(a!)
    assert.equal(l.filter((x) => x.endsWith('/A dir 755')).length, 1)
    assert.equal(l.filter((x) => x.endsWith('/B dir 755')).length, 1)
    assert.equal(l.filter((x) => /\/in[AB] file/.test(x)).length, 2)
    // One of them went back to the root, the other stays inside it.
    assert.ok(l.includes('/A dir 755') !== l.includes('/B dir 755'))
  })

  test('three-way cycle and a dir whose previous location is also in the cycle', () => {
    const [a, b, c] = replicas(3)
    const x = a!.create(ROOT_ID, 'x', 'dir', dir)
    const y = a!.create(ROOT_ID, 'y', 'dir', dir)
    const z = a!.create(ROOT_ID, 'z', 'dir', dir)
    a!.commit()
    syncAll(a!, b!, c!)
    a!.move(x, y, 'x')
    a!.commit()
    b!.move(y, z, 'y')
    b!.commit()
    c!.move(z, x, 'z')
    c!.commit()
    syncAll(a!, b!, c!)
    const l = listing(a!)
    assert.equal(l.length, 3)
    for (const n of ['x', 'y', 'z']) assert.equal(l.filter((p) => p.endsWith(`/${n} dir 755`)).length, 1)
  })

  test('write into a directory removed concurrently restores the directory', () => {
    const [a, b] = replicas(2)
    const d = a!.create(ROOT_ID, 'd', 'dir', dir)
    const f = a!.create(d, 'f', 'file', file)
    a!.commit()
    syncAll(a!, b!)
    a!.remove(f)
    a!.remove(d)
    a!.commit()
    b!.create(d, 'new', 'file', { ...file, content: version('bob', 3) })
    b!.commit()
    syncAll(a!, b!)
    assert.deepEqual(listing(a!).sort(), [
      '/d dir 755',
      `/d/new file 644 ${a!.resolve('/d/new')!.content!.write}`,
    ])
    // Once the restoring child is gone, the removed directory disappears again.
    a!.remove(a!.resolve('/d/new')!.ino)
    a!.commit()
    syncAll(a!, b!)
    assert.deepEqual(listing(b!), [])
  })

  test('a child whose parent is unknown shows in /lost+found until the parent arrives', () => {
    const [a, b] = replicas(2, 2)
    // shardLimit 2: the directory and its child land in different shards.
    const d1 = a!.create(ROOT_ID, 'd1', 'dir', dir)
    const d2 = a!.create(d1, 'd2', 'dir', dir)
    const f = a!.create(d2, 'f', 'file', file)
    a!.commit()
    assert.notEqual(d2.split('.')[0], f.split('.')[0])
    syncTrees(a!, b!, { shards: [Number(f.split('.')[0])] })
    assert.equal(b!.pathOf(f), `/${LOST_FOUND}/f`)
    assert.equal(b!.resolve(`/${LOST_FOUND}`)!.kind, 'dir')
    assert.throws(() => b!.create('lost+found', 'x', 'file', file), /EINVAL/)
    syncAll(a!, b!)
    assert.equal(b!.pathOf(f), '/d1/d2/f')
    assert.equal(b!.resolve(`/${LOST_FOUND}`), undefined)
  })

  test('concurrent renames of one inode: one wins on every replica', () => {
    const [a, b, c] = replicas(3)
    const f = a!.create(ROOT_ID, 'orig', 'file', file)
    a!.commit()
    syncAll(a!, b!, c!)
    a!.move(f, ROOT_ID, 'by-alice')
    a!.commit()
    b!.move(f, ROOT_ID, 'by-bob')
    b!.commit()
    c!.setAttr(f, { mode: 0o600 })
    c!.commit()
    syncAll(a!, b!, c!)
    const names = a!.readdir(ROOT_ID).map((e) => e.name)
    assert.equal(names.length, 1)
    assert.ok(names[0] === 'by-alice' || names[0] === 'by-bob')
    assert.equal(a!.get(f)!.mode, 0o600, 'concurrent edit of another field survives the rename')
  })

  test('corrupt remote values are skipped and counted, not fatal', () => {
    const [a, b] = replicas(2)
    a!.create(ROOT_ID, 'good', 'file', file)
    a!.commit()
    // Write a malformed inode straight into a's shard document.
    const doc = (
      a as unknown as {
        docs: { get(s: number): { put(o: string, k: string, v: unknown, t?: string): void } }
      }
    ).docs.get(0)
    doc.put('_root', '0.0123456789abcdef0123456789abcdef/loc', 'not json', 'str')
    doc.put('_root', '0.fedcba9876543210fedcba9876543210/loc', 42, 'int')
    a!.commit()
    a!.setAttr(ROOT_ID, { mtime: 5 })
    a!.commit()
    syncTrees(a!, b!)
    assert.deepEqual(
      b!.readdir(ROOT_ID).map((e) => e.name),
      ['good'],
    )
    assert.ok(b!.corruptInodes >= 2)
  })
})
