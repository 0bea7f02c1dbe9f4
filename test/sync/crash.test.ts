import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { openTreeDatabase } from '../../sync/storage.js'
import { tmpDir } from '../helpers/tmp.js'

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url))

/** Run the child until it has acknowledged `n` commits, then SIGKILL it; resolves the acknowledged names. */
function runAndKill(path: string, seed: number, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, path, String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    const acked: string[] = []
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const lines = buf.split('\n')
      buf = lines.pop()!
      acked.push(...lines)
      if (acked.length >= n) p.kill('SIGKILL')
    })
    p.on('error', reject)
    p.on('exit', () => resolve(acked))
  })
}

test('SIGKILL during a commit storm leaves a loadable db holding every acknowledged commit', async (t) => {
  const path = join(tmpDir(t), 'crash.db')
  for (const [round, seed] of [11, 12].entries()) {
    const acked = await runAndKill(path, seed, 150 + round * 50)
    const db = openTreeDatabase(path)
    const tree = new AutomergePathTree({ db, nodeId: 'inspector', runtime: new ManualRuntime(99) })
    const dir = tree.resolve('/d')!
    for (const name of acked) {
      const e = tree.lookup(dir.ino, name)
      assert.ok(e, `${name} acknowledged before the kill is present`)
      assert.equal(e.content?.write, `${name}-v`)
    }
    const view = tree.dumpView()
    tree.rebuildView()
    assert.deepEqual(tree.dumpView(), view, 'view consistent with documents after the crash')
    tree.close()
    db.close()
  }
})
