import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createContentStore, type FileRef } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { CRASH_KEY, type CrashMode, openCrashBackend } from './crash-writer.js'
import { prng } from './util.js'

const writer = join(dirname(fileURLToPath(import.meta.url)), 'crash-writer.js')

interface Done {
  name: string
  ref: FileRef
  sha: string
}

/** Run the writer until `lines` files are done, then SIGKILL it after a random pause. */
function storm(db: string, seed: number, lines: number, pauseMs: number, mode: CrashMode): Promise<Done[]> {
  return new Promise((resolve, reject) => {
    const args = [writer, db, String(seed), mode]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const done: Done[] = []
    let buf = ''
    let stderr = ''
    let killing = false
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.stdout.on('data', (d) => {
      buf += d
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const [tag, name, id, size, sha] = buf.slice(0, nl).split(' ')
        buf = buf.slice(nl + 1)
        nl = buf.indexOf('\n')
        if (tag !== 'done') continue
        done.push({ name: name!, ref: { id: id!, size: Number(size) }, sha: sha! })
        if (done.length >= lines && !killing) {
          killing = true
          setTimeout(() => child.kill('SIGKILL'), pauseMs)
        }
      }
    })
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited early (${code}): ${stderr}`))
      else resolve(done)
    })
  })
}

const MODES: Record<CrashMode, string> = {
  one: '',
  split: ' (blobs in a separate database)',
  packs: ' (pack files, as a volume stores them)',
}

for (const mode of ['one', 'split', 'packs'] as const)
  test(`SIGKILL mid write storm${MODES[mode]}: store opens, verifies clean, holds every completed file`, async (t) => {
    const dir = tmpDir(t, 'bt-crash-')
    const db = join(dir, 'tree.db')
    const seed = Date.now() % 100_000
    t.diagnostic(`seed ${seed}`)
    const rnd = prng(seed)
    const all: Done[] = []
    for (let round = 0; round < 4; round++) {
      const done = await storm(db, seed + round, 4 + rnd(12), rnd(60), mode)
      assert.ok(done.length > 0)
      all.push(...done)
      const backend = openCrashBackend(db, mode)
      const store = createContentStore(backend, { key: CRASH_KEY })
      try {
        const v = await store.verify()
        assert.deepEqual(v.corrupt, [], `round ${round}: corrupt chunks`)
        assert.deepEqual(v.missing, [], `round ${round}: missing chunks`)
        if (round % 2 === 1) await store.gc()
        for (const d of all) {
          const h = createHash('sha256')
          for await (const piece of store.stream(d.ref)) h.update(piece)
          assert.equal(h.digest('hex'), d.sha, `${d.name} reads back after round ${round}`)
        }
        if (round === 3) {
          // After gc, the orphans of every killed write are gone: each stored chunk is reachable.
          await store.gc()
          const reachable = new Set<string>()
          for (const r of backend.listRoots()) for (const id of await store.chunkIds(r)) reachable.add(id)
          assert.deepEqual(new Set(backend.listChunks()), reachable)
        }
        const s = store.stats()
        // Every completed file is retained; a write retained just before the kill may add one unprinted.
        assert.ok(s.manifests >= new Set(all.map((d) => d.ref.id)).size)
      } finally {
        store.close()
      }
    }
    t.diagnostic(`${all.length} completed files checked across 4 kills`)
  })
