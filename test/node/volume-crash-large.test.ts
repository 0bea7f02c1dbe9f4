/**
 * Crash safety of large sequential writes (sequential ingest, sealing on the
 * worker thread, chunk bytes in pack files): a writer killed with SIGKILL at
 * a random moment mid-stream leaves a volume that opens, verifies clean,
 * holds every acknowledged file, shows no torn file, and keeps no pack bytes
 * that no index row names.
 */
import assert from 'node:assert/strict'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { PACKS_DIR, TREE_DB } from '../../node/open-tree.js'
import { tmpDir } from '../helpers/tmp.js'
import { largeSize } from './fixtures/crash-writer-large.js'
import { openCrashVolume, pattern, readAll, runUntilKilled } from './helpers.js'

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer-large.js', import.meta.url))

/** Pack files whose size differs from the end of their last indexed chunk. */
function untidyPacks(dir: string): string[] {
  const db = new Database(join(dir, TREE_DB), { readonly: true })
  const ends = new Map(
    (
      db.prepare('SELECT pack, max(off + len) AS e FROM store_packed GROUP BY pack').all() as {
        pack: number
        e: number
      }[]
    ).map((r) => [`${r.pack}.pack`, r.e]),
  )
  db.close()
  return readdirSync(join(dir, PACKS_DIR)).filter(
    (n) => statSync(join(dir, PACKS_DIR, n)).size !== (ends.get(n) ?? 0),
  )
}

for (const round of [0, 1])
  test(`SIGKILL mid large sequential write (${round}): acknowledged files intact, store clean`, {
    timeout: 180_000,
  }, async (t) => {
    const dir = join(tmpDir(t), 'vol')
    const seed = (Date.now() + round * 7) % 1000
    t.diagnostic(`kill delay seed ${seed}`)
    let armed = false
    const acked = await runUntilKilled(t, WRITER, dir, (n, child) => {
      if (n >= 3 && !armed) {
        armed = true
        // Somewhere inside the next file's stream (a file takes ~20-500 ms here).
        setTimeout(() => child.kill('SIGKILL'), seed % 150)
      }
    })

    const v = await openCrashVolume(dir, 'checker')
    t.after(() => v.close())
    assert.deepEqual(untidyPacks(dir), [], 'open cut every pack back to its indexed end')
    const report = await v.verify()
    assert.deepEqual([report.corrupt, report.missing], [[], []])
    for (let i = 0; i <= acked; i++)
      assert.deepEqual(await readAll(v, `/d/f${i}`), pattern(largeSize(i), i + 1), `f${i} acknowledged`)
    const names = (await v.readdir('/d', undefined, 10_000)).entries.map((e) => e.name)
    for (const n of names.filter((x) => x.startsWith('f'))) {
      const i = Number(n.slice(1))
      const got = await readAll(v, `/d/${n}`)
      // Created but not closed: empty; closed: complete. Never torn.
      if (i > acked && got.length === 0) continue
      assert.deepEqual(got, pattern(largeSize(i), i + 1), `${n} complete`)
    }
    await v.gc()
    const after = await v.verify()
    assert.deepEqual([after.corrupt, after.missing], [[], []])
  })
