/**
 * removeTestDir (test/helpers/tmp.ts, the teardown of every tmpDir): a FUSE
 * mount left under a test's directory, served by the very process removing
 * it, is detached first and the removal completes. A synchronous recursive
 * removal walked into such a mount and blocked the only thread that could
 * answer it. Run in a child process, so a regression is a timeout here.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { mountAt } from '../../fuse/stale.js'
import { forceUnmount, fuseSkipReason } from '../helpers/fuse.js'
import { removeTestDir } from '../helpers/tmp.js'

const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href)

test('a FUSE mount this process serves, left under a test directory, is detached before the removal', {
  skip: fuseSkipReason(),
  timeout: 120_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bt-tmp-dir-'))
  const mnt = join(dir, 'mnt')
  t.after(async () => {
    await forceUnmount(mnt)
    await removeTestDir(dir)
  })
  const script = `
import { mkdir } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { mountVolume } from ${url('../../fuse/index.js')}
import { openMemoryVolume } from ${url('../../node/open-tree.js')}
import { systemRuntime } from ${url('../../sync/runtime.js')}
import { removeTestDir } from ${url('../helpers/tmp.js')}
const dir = ${JSON.stringify(dir)}
await mkdir(dir + '/mnt')
const v = await openMemoryVolume({ nodeId: 'tmp-test', key: randomBytes(32), runtime: systemRuntime() })
const m = await mountVolume(v, dir + '/mnt', { log: () => {} })
await v.mkdir('/d', 0o755)
await v.writeFile('/d/f', new TextEncoder().encode('kept in the tree'))
console.log('mounted')
await removeTestDir(dir)
console.log('removed')
// Already detached: the unmount only releases the addon's handle, so the process can exit.
await m.unmount({ lazy: true })
await v.close()
`
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 90_000, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr }),
    )
  })
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /^mounted$/m)
  assert.match(r.out, /^removed$/m)
  assert.match(r.out, new RegExp(`tmp: a FUSE mount was left at ${mnt}; detaching it`))
  assert.equal(existsSync(dir), false)
  assert.equal(await mountAt(mnt), undefined)
})
