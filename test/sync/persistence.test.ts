import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { COMPACT_AFTER, openTreeDatabase } from '../../sync/storage.js'
import { ROOT_ID } from '../../sync/types.js'
import { tmpDir } from '../helpers/tmp.js'
import { listing, version } from './helpers.js'

const file = { mode: 0o644, mtime: 1000 }

test('save, reopen: same tree, history, and further edits (across compaction)', (t) => {
  const path = join(tmpDir(t), 'tree.db')
  const rt = new ManualRuntime(7)
  let db = openTreeDatabase(path)
  let tree = new AutomergePathTree({ db, nodeId: 'alice', runtime: rt, shardLimit: 4 })
  const d = tree.create(ROOT_ID, 'd', 'dir', { mode: 0o755, mtime: 1 })
  const files: string[] = []
  for (let i = 0; i < COMPACT_AFTER + 10; i++) {
    files.push(tree.create(d, `f${i}`, 'file', { ...file, content: version('alice', i) }))
    tree.commit()
  }
  const before = listing(tree)
  const view = tree.dumpView()
  const hist = tree.history(undefined, 5)
  tree.close()
  db.close()

  db = openTreeDatabase(path)
  tree = new AutomergePathTree({ db, nodeId: 'alice', runtime: rt, shardLimit: 4 })
  assert.deepEqual(listing(tree), before)
  assert.deepEqual(tree.history(undefined, 5), hist)
  assert.ok(tree.shardIds().length > 5)
  tree.move(files[3]!, ROOT_ID, 'moved')
  tree.setContent(files[5]!, version('alice', 99))
  tree.commit()
  const after = listing(tree)
  tree.rebuildView()
  assert.deepEqual(listing(tree), after)
  assert.notDeepEqual(tree.dumpView(), view)
  tree.close()
  db.close()

  db = openTreeDatabase(path)
  tree = new AutomergePathTree({ db, nodeId: 'alice', runtime: rt, shardLimit: 4 })
  assert.deepEqual(listing(tree), after)
  tree.close()
  db.close()
})

test('uncommitted mutations at a crash are dropped on reopen: view rebuilt from documents', (t) => {
  const path = join(tmpDir(t), 'tree.db')
  const rt = new ManualRuntime(8)
  let db = openTreeDatabase(path)
  let tree = new AutomergePathTree({ db, nodeId: 'alice', runtime: rt })
  tree.create(ROOT_ID, 'kept', 'file', file)
  tree.commit()
  const committed = listing(tree)
  tree.create(ROOT_ID, 'lost', 'file', file) // never committed: the "crash" below
  assert.equal(listing(tree).length, 2)
  db.close() // no tree.close(), no commit
  db = openTreeDatabase(path)
  tree = new AutomergePathTree({ db, nodeId: 'alice', runtime: rt })
  assert.deepEqual(listing(tree), committed)
  // The new open uses a new actor, so its changes never collide with lost ones.
  tree.create(ROOT_ID, 'again', 'file', file)
  tree.commit()
  assert.equal(listing(tree).length, 2)
  tree.close()
  db.close()
})

test('a database written by another schema version is refused, not misread', (t) => {
  const path = join(tmpDir(t), 'tree.db')
  const db = openTreeDatabase(path)
  new AutomergePathTree({ db, nodeId: 'alice', runtime: new ManualRuntime(1) }).close()
  db.prepare("UPDATE tree_meta SET value = '999' WHERE key = 'schema'").run()
  assert.throws(
    () => new AutomergePathTree({ db, nodeId: 'alice', runtime: new ManualRuntime(1) }),
    /EIO.*schema/,
  )
  db.close()
})
