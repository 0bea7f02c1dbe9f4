import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeShardSummary, encodeShardSummary, PeerSyncStates, syncTrees } from '../../sync/sync-trees.js'
import { ROOT_ID, type TreeChange } from '../../sync/types.js'
import { listing, memTree, version } from './helpers.js'

const file = { mode: 0o644, mtime: 1000 }

test('shard summaries round-trip and reject malformed input', () => {
  assert.deepEqual(decodeShardSummary(encodeShardSummary([0, 3, 7])), [0, 3, 7])
  for (const bad of [
    '',
    '{',
    '{"v":2,"shards":[]}',
    '{"v":1,"shards":[-1]}',
    '{"v":1,"shards":["0"]}',
    '[]',
  ]) {
    assert.throws(() => decodeShardSummary(new TextEncoder().encode(bad)), /EINVAL/)
  }
  assert.throws(() => decodeShardSummary(new Uint8Array([0xff, 0xfe])), /EINVAL/)
})

test('a garbage sync message is refused with EINVAL and changes nothing', () => {
  const { tree } = memTree('alice')
  tree.create(ROOT_ID, 'x', 'file', file)
  tree.commit()
  const before = tree.dumpView()
  const st = tree.newSyncState()
  assert.throws(() => tree.receiveSyncMessage(0, st, new Uint8Array([1, 2, 3, 4, 5])), /EINVAL/)
  assert.throws(() => tree.receiveSyncMessage(-1, st, new Uint8Array()), /EINVAL/)
  assert.deepEqual(tree.dumpView(), before)
})

test('a live connection keeps its sync states: later changes travel as small incremental messages', () => {
  const a = memTree('alice').tree
  const b = memTree('bob').tree
  for (let i = 0; i < 200; i++) a.create(ROOT_ID, `f${i}`, 'file', { ...file, content: version('alice', i) })
  a.commit()
  const sa = new PeerSyncStates(a)
  const sb = new PeerSyncStates(b)
  const exchange = () => {
    let bytes = 0
    for (let r = 0; r < 10; r++) {
      const m1 = a.syncMessage(0, sa.get(0))
      if (m1) b.receiveSyncMessage(0, sb.get(0), m1)
      const m2 = b.syncMessage(0, sb.get(0))
      if (m2) a.receiveSyncMessage(0, sa.get(0), m2)
      bytes += (m1?.length ?? 0) + (m2?.length ?? 0)
      if (!m1 && !m2) break
    }
    return bytes
  }
  const initial = exchange()
  const events: TreeChange[] = []
  b.onChange((c) => events.push(c))
  const f = a.resolve('/f7')!.ino
  a.setAttr(f, { mode: 0o600 })
  a.commit()
  const later = exchange()
  assert.equal(b.get(f)!.mode, 0o600)
  assert.ok(later < initial / 10, `incremental sync ${later} B vs initial ${initial} B`)
  assert.deepEqual(events, [{ inodes: [f], remote: true }])
  assert.deepEqual(listing(a), listing(b))
})

test('contentAt across shards uses the state of the inode shard recorded at or before the version', () => {
  const { tree } = memTree('alice', { shardLimit: 1 })
  const f = tree.create(ROOT_ID, 'f', 'file', file) // shard 0
  const v1 = version('alice', 1)
  tree.setContent(f, v1)
  tree.commit()
  const g = tree.create(ROOT_ID, 'g', 'file', file) // shard 1
  tree.commit()
  const v2 = version('alice', 2)
  tree.setContent(f, v2)
  tree.commit()
  const gVersion = tree.history(g)[0]!.version
  assert.notEqual(g.split('.')[0], f.split('.')[0])
  assert.deepEqual(tree.contentAt(f, gVersion), v1)
  assert.deepEqual(tree.contentAt(f, tree.history(f)[0]!.version), v2)
  assert.equal(tree.contentAt(g, gVersion), undefined)
})

test('local commits notify listeners with the touched inodes; unsubscribe stops them', () => {
  const { tree } = memTree('alice')
  const events: TreeChange[] = []
  const off = tree.onChange((c) => events.push(c))
  const x = tree.create(ROOT_ID, 'x', 'file', file)
  assert.equal(events.length, 0, 'nothing before commit')
  tree.commit()
  assert.deepEqual(events, [{ inodes: [x], remote: false }])
  off()
  tree.setAttr(x, { mode: 0o600 })
  tree.commit()
  assert.equal(events.length, 1)
  tree.close()
  assert.throws(() => tree.create(ROOT_ID, 'y', 'file', file), /EIO/)
})

test('three replicas with tiny shards converge through chained partial syncs', () => {
  const [a, b, c] = ['alice', 'bob', 'carol'].map((n, i) => memTree(n, { seed: 40 + i, shardLimit: 2 }).tree)
  const d = a!.create(ROOT_ID, 'd', 'dir', { mode: 0o755, mtime: 1 })
  for (let i = 0; i < 6; i++) a!.create(d, `f${i}`, 'file', file)
  a!.commit()
  syncTrees(a!, b!)
  b!.move(b!.resolve('/d/f1')!.ino, ROOT_ID, 'top')
  b!.commit()
  syncTrees(b!, c!, { shards: [1, 2] })
  syncTrees(b!, c!)
  syncTrees(c!, a!)
  assert.deepEqual(listing(a!), listing(b!))
  assert.deepEqual(listing(c!), listing(b!))
  assert.ok(listing(a!).includes('/top file 644'))
})

test('replicas that started a shard independently (unrelated histories) converge', () => {
  const a = memTree('alice').tree
  const b = memTree('bob').tree
  for (let i = 0; i < 150; i++) {
    a.create(ROOT_ID, `a${i}`, 'file', file)
    b.create(ROOT_ID, `b${i}`, 'file', file)
    if (i % 10 === 9) {
      a.commit()
      b.commit()
    }
  }
  a.create(ROOT_ID, 'same', 'file', file)
  b.create(ROOT_ID, 'same', 'file', file)
  a.commit()
  b.commit()
  syncTrees(a, b)
  assert.equal(a.childCount(ROOT_ID), 302)
  assert.deepEqual(a.dumpView(), b.dumpView())
  assert.equal(a.conflicts().length, 1)
})
