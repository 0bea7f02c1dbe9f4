import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { TreeError } from '../../sync/errors.js'
import { syncTrees } from '../../sync/sync-trees.js'
import { ROOT_ID } from '../../sync/types.js'
import { listing, memTree, version } from './helpers.js'

const file = { mode: 0o644, mtime: 1000 }
const dir = { mode: 0o755, mtime: 1000 }

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof TreeError, `expected TreeError, got ${e}`)
    return e.code
  }
  assert.fail('expected an error')
}

describe('path tree: local operations', () => {
  test('create, lookup, resolve, pathOf, readdir paging, childCount', () => {
    const { tree } = memTree('alice')
    const d = tree.create(ROOT_ID, 'docs', 'dir', dir)
    const names = ['b', 'a', 'c', 'é', 'Z', 'a.txt']
    for (const n of names) tree.create(d, n, 'file', { ...file, content: version('alice', 5) })
    tree.commit()
    assert.equal(tree.lookup(ROOT_ID, 'docs')?.ino, d)
    assert.equal(tree.resolve('/docs/a.txt')?.name, 'a.txt')
    assert.equal(tree.resolve('/docs/a.txt/x'), undefined)
    assert.equal(tree.resolve('/')?.ino, ROOT_ID)
    assert.equal(tree.pathOf(tree.resolve('/docs/é')!.ino), '/docs/é')
    assert.equal(tree.childCount(d), names.length)
    const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    assert.deepEqual(
      tree.readdir(d).map((e) => e.name),
      sorted,
    )
    assert.deepEqual(
      tree.readdir(d, 'a', 2).map((e) => e.name),
      sorted.slice(sorted.indexOf('a') + 1, sorted.indexOf('a') + 3),
    )
    const e = tree.resolve('/docs/b')!
    assert.equal(e.kind, 'file')
    assert.equal(e.size, 10)
    assert.equal(e.mode, 0o644)
  })

  test('setContent, setAttr, symlink, move, remove', () => {
    const { tree } = memTree('alice')
    const a = tree.create(ROOT_ID, 'a', 'dir', dir)
    const b = tree.create(ROOT_ID, 'b', 'dir', dir)
    const f = tree.create(a, 'f', 'file', file)
    assert.equal(tree.get(f)!.size, 0)
    const v = version('alice', 7, 123)
    tree.setContent(f, v)
    assert.deepEqual(tree.get(f)!.content, v)
    assert.equal(tree.get(f)!.size, 123)
    tree.setAttr(f, { mode: 0o600, mtime: 99 })
    assert.equal(tree.get(f)!.mode, 0o600)
    assert.equal(tree.get(f)!.mtime, 99)
    const l = tree.create(b, 'l', 'symlink', { ...file, target: '../a/f' })
    assert.equal(tree.get(l)!.target, '../a/f')
    assert.equal(tree.get(l)!.size, 6)
    tree.move(f, b, 'g')
    assert.equal(tree.pathOf(f), '/b/g')
    assert.equal(tree.lookup(a, 'f'), undefined)
    assert.equal(
      code(() => tree.remove(b)),
      'ENOTEMPTY',
    )
    tree.remove(f)
    tree.remove(l)
    assert.equal(tree.get(f), undefined)
    tree.remove(b)
    assert.equal(tree.resolve('/b'), undefined)
    tree.setAttr(ROOT_ID, { mode: 0o700, mtime: 5 })
    assert.equal(tree.get(ROOT_ID)!.mode, 0o700)
    tree.commit('batch')
    assert.deepEqual(listing(tree), ['/a dir 755'])
  })

  test('validation errors carry POSIX codes', () => {
    const { tree } = memTree('alice')
    const a = tree.create(ROOT_ID, 'a', 'dir', dir)
    const f = tree.create(a, 'f', 'file', file)
    assert.equal(
      code(() => tree.create(ROOT_ID, '', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'x/y', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'x\0', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'x\ud800', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, '.', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, '..', 'file', file)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'é'.repeat(128), 'file', file)),
      'ENAMETOOLONG',
    )
    tree.create(ROOT_ID, 'é'.repeat(127), 'file', file)
    assert.equal(
      code(() => tree.create(ROOT_ID, 'a', 'file', file)),
      'EEXIST',
    )
    assert.equal(
      code(() => tree.create(f, 'x', 'file', file)),
      'ENOTDIR',
    )
    assert.equal(
      code(() => tree.create('0.' + 'ab'.repeat(16), 'x', 'file', file)),
      'ENOENT',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'm', 'file', { mode: -1, mtime: 0 })),
      'EINVAL',
    )
    const longTarget = { ...file, target: 'x'.repeat(4097) }
    assert.equal(
      code(() => tree.create(ROOT_ID, 'l', 'symlink', longTarget)),
      'ENAMETOOLONG',
    )
    assert.equal(
      code(() => tree.create(ROOT_ID, 'l', 'symlink', file)),
      'EINVAL',
    )
    const sub = tree.create(a, 'sub', 'dir', dir)
    assert.equal(
      code(() => tree.move(a, sub, 'x')),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.move(a, a, 'x')),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.move(f, ROOT_ID, 'a')),
      'EEXIST',
    )
    assert.equal(
      code(() => tree.remove(ROOT_ID)),
      'EINVAL',
    )
    assert.equal(
      code(() => tree.setContent(a, version('alice', 1))),
      'EINVAL',
    )
    tree.move(f, a, 'f') // same place: no-op
    assert.equal(tree.pathOf(f), '/a/f')
  })

  test('history records ops with node, path and version usable by contentAt', () => {
    const { tree, runtime } = memTree('alice')
    const f = tree.create(ROOT_ID, 'f', 'file', file)
    const v1 = version('alice', 1)
    tree.setContent(f, v1)
    tree.commit()
    runtime.advance(1000)
    const v2 = version('alice', 2)
    tree.setContent(f, v2)
    tree.move(f, ROOT_ID, 'g')
    tree.commit()
    const h = tree.history(f)
    assert.deepEqual(
      h.map((x) => [x.op, x.path, x.node]),
      [
        ['move', '/g', 'alice'],
        ['write', '/g', 'alice'],
        ['write', '/f', 'alice'],
        ['create', '/f', 'alice'],
      ],
    )
    assert.equal(h[0]!.version, h[1]!.version)
    assert.notEqual(h[1]!.version, h[2]!.version)
    assert.deepEqual(tree.contentAt(f, h[2]!.version.slice(0, 10)), v1)
    assert.deepEqual(tree.contentAt(f, h[0]!.version), v2)
    assert.ok([...tree.allContent()].some((c) => c.write === v1.write))
    assert.throws(() => tree.contentAt(f, 'ffffffffffff'), /ENOENT/)
  })

  test('sync to an empty replica converges and records remote history', () => {
    const a = memTree('alice').tree
    const b = memTree('bob').tree
    const d = a.create(ROOT_ID, 'd', 'dir', dir)
    const f = a.create(d, 'f', 'file', { ...file, content: version('alice', 3) })
    a.commit()
    let heard = 0
    b.onChange((c) => {
      if (c.remote) heard += c.inodes.length
    })
    syncTrees(a, b)
    assert.deepEqual(listing(b), listing(a))
    assert.ok(heard >= 2)
    assert.equal(b.history(f)[0]!.node, 'alice')
    b.move(f, ROOT_ID, 'moved')
    b.commit()
    syncTrees(a, b)
    assert.equal(a.pathOf(f), '/moved')
    assert.deepEqual(a.dumpView(), b.dumpView())
  })
})
