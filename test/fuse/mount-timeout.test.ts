/**
 * A mount that is not served in time fails with ETIMEDOUT and leaves nothing
 * behind, instead of hanging its caller (a hung test run in CI). Each case runs
 * in a child process, so a regression shows as a timeout or a process that
 * does not exit, not as a hang of this test file.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { mountAt } from '../../fuse/index.js'
import { forceUnmount, fuseSkipReason } from '../helpers/fuse.js'
import type { Teardown } from '../helpers/tmp.js'

const skip = fuseSkipReason()
const FUSE = new URL('../../fuse/index.js', import.meta.url).href
const NATIVE = new URL('../../fuse/native.js', import.meta.url).href
const OPEN = new URL('../../node/open-tree.js', import.meta.url).href
const RUNTIME = new URL('../../sync/runtime.js', import.meta.url).href

/** Prelude of a child script: a memory volume and the mount functions. */
const PRELUDE = `
import { mountVolume } from ${JSON.stringify(FUSE)}
import { binding } from ${JSON.stringify(NATIVE)}
import { openMemoryVolume } from ${JSON.stringify(OPEN)}
import { systemRuntime } from ${JSON.stringify(RUNTIME)}
import { randomBytes } from 'node:crypto'
const volume = await openMemoryVolume({ nodeId: 'timeout-test', key: randomBytes(32), runtime: systemRuntime() })
`

interface Child {
  proc: ChildProcess
  lines: string[]
  /** Resolves with the first line matching `re`. */
  waitFor(re: RegExp): Promise<string>
  exited: Promise<number | null>
}

function runChild(t: Teardown, script: string): Child {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', PRELUDE + script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters: { re: RegExp; res: (l: string) => void }[] = []
  let buf = ''
  const onData = (d: Buffer) => {
    buf += d.toString()
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      for (const w of waiters.filter((x) => x.re.test(line))) {
        waiters.splice(waiters.indexOf(w), 1)
        w.res(line)
      }
    }
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  return {
    proc,
    lines,
    exited,
    waitFor: (re) =>
      new Promise((res) => {
        const hit = lines.find((l) => re.test(l))
        if (hit) res(hit)
        else waiters.push({ re, res })
      }),
  }
}

/** A scratch directory; `cleanup` runs before it is removed (after-hooks run in the order added). */
async function scratch(t: Teardown, cleanup: () => Promise<void>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bt-mount-timeout-'))
  t.after(async () => {
    await cleanup()
    await rm(root, { recursive: true, force: true })
  })
  return root
}

describe('fuse: mount timeout', { skip }, () => {
  test('a mount point on a hung FUSE mount: ETIMEDOUT instead of waiting forever', {
    timeout: 120_000,
  }, async (t) => {
    let server: Child | undefined
    const root = await scratch(t, async () => {
      server?.proc.kill('SIGCONT')
      server?.proc.kill('SIGKILL')
      await server?.exited
      await forceUnmount(hungDir)
    })
    const hungDir = join(root, 'hung')
    await mkdir(hungDir)
    // A server that mounts, makes a directory in its mount, then is stopped: a stat there blocks.
    server = runChild(
      t,
      `
import { mkdir } from 'node:fs/promises'
const m = await mountVolume(volume, ${JSON.stringify(hungDir)}, { log: () => {} })
await volume.mkdir('/sub', 0o755)
console.log('ready')
setInterval(() => {}, 1 << 30)
`,
    )
    await server.waitFor(/^ready$/)
    server.proc.kill('SIGSTOP')
    const client = runChild(
      t,
      `
const t0 = Date.now()
try {
  await mountVolume(volume, ${JSON.stringify(join(hungDir, 'sub'))}, { log: () => {}, timeoutMs: 1500 })
  console.log('mounted?!')
} catch (e) {
  console.log('error', e.code, Date.now() - t0, e.message)
}
`,
    )
    const line = await client.waitFor(/^(error|mounted)/)
    const [, code, ms] = line.split(' ')
    assert.equal(code, 'ETIMEDOUT', line)
    assert.ok(Number(ms) >= 1400, `gave up after ${ms} ms, before its deadline`)
    assert.match(line, /not served within 1\.5 s/)
    // Its stat of the hung directory is still pending in the thread pool; once the hung server
    // is gone it fails, and nothing keeps the client alive.
    server.proc.kill('SIGCONT')
    server.proc.kill('SIGKILL')
    assert.equal(await client.exited, 0, client.lines.join('\n'))
  })

  test('kernel mount made but INIT answered late: detached, no mount left, the process exits', {
    timeout: 120_000,
  }, async (t) => {
    const root = await scratch(t, () => forceUnmount(dir))
    const dir = join(root, 'mnt')
    await mkdir(dir)
    // The addon mounts, then the main thread is kept busy past the deadline, so the timer runs
    // before the INIT request (queued for the main thread) is answered.
    const child = runChild(
      t,
      `
const addon = binding
const inner = addon.fuse_native_mount
// Busy until the deadline has certainly passed (its timer starts after t0), however long the
// mount point check took on a loaded machine.
let t0 = 0
addon.fuse_native_mount = function (...args) {
  const r = inner.apply(this, args)
  console.log('native mount made')
  while (Date.now() < t0 + 3300) {}
  return r
}
try {
  t0 = Date.now()
  await mountVolume(volume, ${JSON.stringify(dir)}, { log: () => {}, timeoutMs: 3000 })
  console.log('mounted?!')
} catch (e) {
  console.log('error', e.code, e.message)
}
`,
    )
    const line = await child.waitFor(/^(error|mounted)/)
    assert.ok(child.lines.includes('native mount made'), `the addon never mounted: ${child.lines.join('\n')}`)
    assert.match(line, /^error ETIMEDOUT /)
    // Nothing holds the event loop (the addon's handle was released) and the mount is gone.
    const code = await Promise.race([
      child.exited,
      new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 60_000).unref()),
    ])
    assert.equal(code, 0, `child did not exit by itself: ${child.lines.join('\n')}`)
    assert.equal(await mountAt(dir), undefined)
  })
})
