/**
 * Child process for the crash test: creates files in a loop, committing each,
 * and reports every acknowledged commit on stdout until it is killed.
 * Usage: node crash-child.js <db path> <seed>
 */
import { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { openTreeDatabase } from '../../sync/storage.js'
import { ROOT_ID } from '../../sync/types.js'

const [path, seed] = process.argv.slice(2)
const db = openTreeDatabase(path!)
const rt = new ManualRuntime(Number(seed))
const tree = new AutomergePathTree({ db, nodeId: `crash-${seed}`, runtime: rt, shardLimit: 50 })
const dir = tree.resolve('/d')?.ino ?? tree.create(ROOT_ID, 'd', 'dir', { mode: 0o755, mtime: 0 })
for (let i = 0; ; i++) {
  const name = `s${seed}-f${i}`
  const ino = tree.create(dir, name, 'file', { mode: 0o644, mtime: i })
  tree.setContent(ino, {
    write: `${name}-v`,
    ref: { id: 'e'.repeat(64), size: i },
    node: tree.nodeId,
    time: i,
  })
  if (i % 7 === 3) tree.create(dir, `${name}-uncommitted`, 'file', { mode: 0o644, mtime: i }) // joins the next commit
  tree.commit()
  process.stdout.write(`${name}\n`)
}
