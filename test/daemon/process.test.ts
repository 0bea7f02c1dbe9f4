/**
 * The daemon as real processes: `bt up --detach`, `bt status`, `bt down`,
 * SIGTERM during a large put, SIGKILL during `bt put -r` of ~2000 files.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { daemonInfo, isAlive, openApi, startDetached, stopDaemon } from '../../node/daemon/index.js'
import { openLocalNode } from '../../node/local-node.js'
import { NodeError } from '../../node/node-error.js'
import type { Teardown } from '../helpers/tmp.js'
import { tmpDir, until } from './helpers.js'

const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))
const MB = 1024 * 1024

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, BT_NETWORK: 'loopback' }
  delete e.BT_HOME
  return e
}

function bt(home: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BT, '--home', home, ...args], {
    encoding: 'utf8',
    env: env(),
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function ok(r: { status: number | null; stdout: string; stderr: string }, want = 0) {
  assert.equal(r.status, want, `bt exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

function btChild(
  home: string,
  ...args: string[]
): { child: ChildProcess; done: Promise<{ status: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [BT, '--home', home, ...args], {
    env: env(),
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d))
  const done = new Promise<{ status: number | null; stderr: string }>((r) =>
    child.on('close', (status) => r({ status, stderr })),
  )
  return { child, done }
}

/** An initialised data dir with a tree 'docs'. */
function home(t: Teardown): string {
  const h = join(tmpDir(t, 'bt-proc-'), 'home')
  ok(bt(h, 'init', '--key-protection', 'none'))
  ok(bt(h, 'tree', 'create', 'docs'))
  return h
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return ''
  }
}

/** `bt up --detach`; the daemon is killed after the test if still running (even when the test failed). */
function up(t: Teardown, h: string): number {
  const r = bt(h, 'up', '--detach')
  const pid = Number(r.stdout.trim())
  if (Number.isInteger(pid) && pid > 0)
    t.after(() => {
      // Only if that pid is still this data dir's daemon (pids get reused).
      if (isAlive(pid) && cmdline(pid).includes(h)) process.kill(pid, 'SIGKILL')
    })
  ok(r)
  return pid
}

async function gone(pid: number): Promise<void> {
  await until(() => !isAlive(pid), 30_000, `pid ${pid} to exit`)
}

/** Bytes stored under the data dir's trees (grows while a put streams in). */
function storedBytes(h: string): number {
  let n = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else
        try {
          n += statSync(p).size
        } catch {
          // vanished (a WAL checkpoint)
        }
    }
  }
  walk(join(h, 'trees'))
  return n
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

describe('bt up / status / down as processes', () => {
  test('up --detach serves; a second up says it is running; down stops it', async (t) => {
    const h = home(t)
    ok(bt(h, 'down'))
    assert.equal(JSON.parse(ok(bt(h, 'status', '--json')).stdout).running, false)
    const pid = up(t, h)
    const s = JSON.parse(ok(bt(h, 'status', '--json')).stdout)
    assert.equal(s.running, true)
    assert.equal(s.pid, pid)
    assert.equal(s.socket, join(h, 'bt.sock'))
    const again = ok(bt(h, 'up'), 1)
    assert.match(again.stderr, new RegExp(`already running.*pid ${pid}`))
    ok(bt(h, 'up', '--detach'), 1)
    assert.ok(isAlive(pid))
    writeFileSync(join(h, '..', 'x.txt'), 'via the daemon')
    ok(bt(h, 'put', join(h, '..', 'x.txt'), 'docs:/x.txt'))
    ok(bt(h, 'down'))
    await gone(pid)
    assert.equal(JSON.parse(ok(bt(h, 'status', '--json')).stdout).running, false)
    assert.equal(ok(bt(h, 'cat', 'docs:/x.txt')).stdout, 'via the daemon')
    assert.ok(!existsSync(join(h, 'bt.sock')) && !existsSync(join(h, 'daemon.json')))
    const log = readFileSync(join(h, 'node.log'), 'utf8')
    assert.match(log, /serving/)
    assert.match(log, /stopped/)
  })

  test('bt up in the foreground stops cleanly on SIGINT (Ctrl-C) and exits 0', async (t) => {
    const h = home(t)
    const child = spawn(process.execPath, [BT, '--home', h, 'up'], {
      env: env(),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    await until(() => /serving/.test(stderr), 30_000, 'the node to serve')
    assert.equal((await daemonInfo(h))?.pid, child.pid)
    child.kill('SIGINT')
    assert.equal(await exited, 0, stderr)
    assert.match(stderr, /stopping \(SIGINT\)/)
    assert.ok(!existsSync(join(h, 'bt.sock')) && !existsSync(join(h, 'daemon.json')))
  })

  test('up --detach on a data dir without identity fails with the reason', (t) => {
    const h = join(tmpDir(t), 'empty')
    const r = ok(bt(h, 'up', '--detach'), 1)
    assert.match(r.stderr, /bt init/)
  })
})

describe('signals during writes', () => {
  for (const [name, signals] of [
    ['SIGTERM (graceful: the put may finish)', 1],
    ['SIGTERM twice (abort now)', 2],
  ] as const) {
    test(`${name} during a large put: the put completed or the path keeps its previous content`, async (t) => {
      const h = home(t)
      const src = join(h, '..', 'big.bin')
      const big = Buffer.alloc(64 * MB)
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i)
      writeFileSync(src, big)
      writeFileSync(join(h, '..', 'prev.txt'), 'previous')
      ok(bt(h, 'put', join(h, '..', 'prev.txt'), 'docs:/big.bin'))
      const pid = up(t, h)
      const base = storedBytes(h)
      const put = btChild(h, 'put', src, 'docs:/big.bin')
      await until(() => storedBytes(h) > base + 8 * MB, 30_000, 'the put to stream in').catch(() => {})
      process.kill(pid, 'SIGTERM')
      if (signals === 2) {
        await new Promise((r) => setTimeout(r, 20))
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          // it already finished stopping
        }
      }
      const r = await put.done
      await gone(pid)
      const out = join(h, '..', 'out.bin')
      ok(bt(h, 'get', 'docs:/big.bin', out))
      const got = readFileSync(out)
      t.diagnostic(r.status === 0 ? 'the put completed' : `the put failed: ${r.stderr.trim()}`)
      if (r.status === 0) assert.equal(sha(got), sha(big), 'an acknowledged put is present in full')
      else {
        assert.match(r.stderr, /^bt: /m)
        assert.equal(got.toString(), 'previous')
      }
      const v = JSON.parse(ok(bt(h, 'verify', '--json')).stdout)
      assert.equal(v.ok, true)
      const log = readFileSync(join(h, 'node.log'), 'utf8')
      assert.match(log, /stopping \(SIGTERM\)/)
      if (signals === 2 && r.status !== 0) assert.match(log, /SIGTERM again/)
      up(t, h)
      ok(bt(h, 'down'))
    })
  }

  test('SIGKILL of a bt put client mid-upload: the path keeps its previous content, the daemon serves on', async (t) => {
    const h = home(t)
    const src = join(h, '..', 'big.bin')
    const big = Buffer.alloc(64 * MB)
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2246822519) >>> 0, i)
    writeFileSync(src, big)
    writeFileSync(join(h, '..', 'prev.txt'), 'previous')
    const pid = up(t, h)
    ok(bt(h, 'put', join(h, '..', 'prev.txt'), 'docs:/big.bin'))
    const base = storedBytes(h)
    const put = btChild(h, 'put', src, 'docs:/big.bin')
    await until(() => storedBytes(h) > base + 4 * MB, 30_000, 'the put to stream in').catch(() => {})
    put.child.kill('SIGKILL')
    const r = await put.done
    t.diagnostic(`put exit ${r.status}`)
    // The daemon notices the disconnect and drops the write; it keeps serving.
    const out = join(h, '..', 'out.bin')
    ok(bt(h, 'get', 'docs:/big.bin', out))
    const got = readFileSync(out)
    if (got.length !== big.length) assert.equal(got.toString(), 'previous')
    else assert.equal(sha(got), sha(big)) // it had finished before the kill
    assert.equal(JSON.parse(ok(bt(h, 'verify', '--json')).stdout).ok, true)
    assert.ok(isAlive(pid))
    ok(bt(h, 'down'))
    await gone(pid)
  })

  test('SIGKILL of the daemon mid put -r of 2000 files: verify passes, stored files are intact, a new daemon starts', async (t) => {
    const h = home(t)
    const src = join(h, '..', 'src')
    const want = new Map<string, string>()
    let seed = 7
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(src, `dir${String(d).padStart(2, '0')}`), { recursive: true })
      for (let f = 0; f < 100; f++) {
        seed = (seed * 1103515245 + 12345) >>> 0
        const size = seed % 20_000
        const content = Buffer.alloc(size, `${d}:${f}:`)
        const rel = `/dir${String(d).padStart(2, '0')}/f${String(f).padStart(3, '0')}`
        writeFileSync(join(src, rel), content)
        want.set(rel, sha(content))
      }
    }
    const pid = up(t, h)
    const put = btChild(h, 'put', '-r', src, 'docs:/d')
    const api = await openApi({ home: h })
    assert.equal(api.remote, true)
    await until(
      async () => {
        try {
          return (await api.ls('docs', '/d')).entries.length >= 3
        } catch {
          return false
        }
      },
      60_000,
      'put -r to get going',
    )
    await api.close().catch(() => {})
    process.kill(pid, 'SIGKILL')
    const r = await put.done
    await gone(pid)
    assert.notEqual(r.status, 0, 'the put cannot succeed without its daemon')
    assert.ok(existsSync(join(h, 'daemon.json')), 'a killed daemon leaves daemon.json behind')
    assert.equal(await daemonInfo(h), undefined)
    const v = ok(bt(h, 'verify'))
    assert.doesNotMatch(v.stdout + v.stderr, /corrupt|missing/i)
    const n = await openLocalNode({ home: h })
    let present = 0
    try {
      for (const dir of (await n.ls('docs', '/d', undefined, 1000)).entries) {
        for (const e of (await n.ls('docs', `/d/${dir.name}`, undefined, 1000)).entries) {
          const rel = `/${dir.name}/${e.name}`
          const parts: Buffer[] = []
          for await (const c of n.readFile('docs', `/d${rel}`)) parts.push(Buffer.from(c))
          assert.equal(sha(Buffer.concat(parts)), want.get(rel), `${rel} intact`)
          present++
        }
      }
    } finally {
      await n.close()
    }
    assert.ok(present > 0 && present < 2000, `${present} files stored before the kill`)
    const pid2 = up(t, h)
    assert.ok(isAlive(pid2))
    ok(bt(h, 'down'))
    await gone(pid2)
  })
})

describe('startDetached and stopDaemon edge cases', () => {
  const FIXTURE = fileURLToPath(new URL('./fixtures/stubborn-daemon.js', import.meta.url))

  async function stubborn(t: Teardown, mode?: string): Promise<{ home: string; pid: number }> {
    const h = tmpDir(t, 'bt-stub-')
    const child = spawn(process.execPath, [FIXTURE, h, ...(mode ? [mode] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    await new Promise<void>((r) => child.stdout!.once('data', () => r()))
    return { home: h, pid: child.pid! }
  }

  test('a daemon that ignores the shutdown request gets SIGTERM after the timeout', async (t) => {
    const { home: h, pid } = await stubborn(t)
    assert.deepEqual(await daemonInfo(h), { pid, socket: join(h, 'bt.sock') })
    const t0 = Date.now()
    assert.equal(await stopDaemon({ home: h, timeoutMs: 300 }), true)
    assert.ok(Date.now() - t0 >= 300)
    assert.equal(isAlive(pid), false)
  })

  test('one that ignores SIGTERM too is reported, not waited for forever', async (t) => {
    const { home: h, pid } = await stubborn(t, 'ignore-term')
    await assert.rejects(stopDaemon({ home: h, timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof NodeError && e.code === 'EDAEMON')
      assert.match(e.message, new RegExp(`pid ${pid}\\) did not stop`))
      return true
    })
    assert.equal(isAlive(pid), true)
  })

  test('a node that fails to start: startDetached reports the last lines it logged', async (t) => {
    const h = join(tmpDir(t), 'home')
    ok(bt(h, 'init', '--key-protection', 'none'))
    writeFileSync(join(h, 'identity.json'), '{"garbage": ')
    await assert.rejects(startDetached({ home: h, args: ['--home', h, 'up'] }), (e: unknown) => {
      assert.ok(e instanceof NodeError && e.code === 'EDAEMON', String(e))
      assert.match(e.message, /exited with status 1 before it was ready/)
      assert.match(e.message, /identity|unreadable|corrupt/i)
      return true
    })
    assert.equal(await daemonInfo(h), undefined)
  })
})
