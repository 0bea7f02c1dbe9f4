/**
 * Lookups while mutations are pending (not yet written to the SQLite view):
 * the path tree answers `lookup` and `get` from its model where that is
 * certain and flushes otherwise (sync/tree-state.ts). Seeded random local
 * mutations and merges (which bring duplicate names and content conflicts)
 * on two replicas; after every mutation, every answer given before the flush
 * must equal the answer after it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { syncTrees } from '../../sync/sync-trees.js'
import { type Entry, type InodeId, LOST_FOUND, ROOT_ID } from '../../sync/types.js'
import { memTree, version } from './helpers.js'

const NAMES = ['a', 'b', 'c', 'a.txt', 'b.txt']

/** The parts of the tree's private state the test reads (sync/tree-state.ts). */
interface PendingState {
  dirtyGroups: Set<string>
  model: { computeGroup(key: string): { name: string }[] }
}

function answers(tree: AutomergePathTree, dirs: InodeId[], names: string[], inos: InodeId[]) {
  const out: (Entry | undefined)[] = []
  for (const d of dirs) for (const n of names) out.push(tree.lookup(d, n))
  for (const i of inos) out.push(tree.get(i))
  return out
}

for (const seed of [1, 2, 3, 4]) {
  test(`pending lookups equal flushed lookups (seed ${seed})`, () => {
    const rt = new ManualRuntime(seed)
    const rand = (n: number) => Math.floor((rt.random.bytes(1)[0]! / 256) * n)
    const trees = [memTree('alice', { seed: seed * 10 }).tree, memTree('bob', { seed: seed * 10 + 1 }).tree]
    const inos = new Set<InodeId>()
    const dirs = new Set<InodeId>([ROOT_ID])
    let checked = 0
    for (let step = 0; step < 300; step++) {
      const t = trees[rand(2)]!
      // Names to ask: the pool, and every name the view shows now (derived conflict names too).
      const names = new Set([...NAMES, LOST_FOUND, 'zz'])
      for (const row of t.dumpView() as { name: string }[]) names.add(row.name)
      // Then one to three mutations left pending (dumpView flushed everything before).
      for (let k = 1 + rand(3); k > 0; k--) {
        const all = [...inos]
        const pick = () => all[rand(all.length)]
        const dirList = [...dirs]
        const dir = dirList[rand(dirList.length)]!
        const name = NAMES[rand(NAMES.length)]!
        try {
          switch (rand(8)) {
            case 0:
            case 1: {
              const kind = rand(3) === 0 ? 'dir' : 'file'
              const ino = t.create(dir, name, kind, { mode: 0o644, mtime: step })
              inos.add(ino)
              if (kind === 'dir') dirs.add(ino)
              break
            }
            case 2: {
              const i = pick()
              if (i) t.setContent(i, version(t.nodeId, step))
              break
            }
            case 3: {
              const i = pick()
              if (i) t.move(i, dir, name)
              break
            }
            case 4: {
              const i = pick()
              if (i) t.remove(i)
              break
            }
            case 5:
              if (rand(4) === 0) syncTrees(trees[0]!, trees[1]!)
              break
            default: {
              const i = pick()
              if (i) t.setAttr(i, { mode: 0o600 + rand(8) })
            }
          }
        } catch (e) {
          if (!/^E[A-Z]+/.test((e as { code?: string }).code ?? '')) throw e
        }
      }
      // And every name the pending groups will show (derived names new since the dump): from the
      // model's pure group computation, read through the tree's internals.
      const st = (t as unknown as { s: PendingState }).s
      for (const key of st.dirtyGroups) for (const r of st.model.computeGroup(key)) names.add(r.name)
      const d = [...dirs]
      const ids = [...inos, LOST_FOUND]
      const before = answers(t, d, [...names], ids)
      t.childCount(ROOT_ID) // flushes the view
      const after = answers(t, d, [...names], ids)
      assert.deepEqual(before, after, `step ${step} on ${t.nodeId}`)
      checked += before.filter((x) => x !== undefined).length
      if (rand(3) === 0) t.commit()
    }
    assert.ok(checked > 1000, `answers compared: ${checked}`)
  })
}
