/**
 * BT_EXIT_WITH_PID: a node started with `bt up --detach` stops by itself once
 * the process that owns it has exited, and a bad value is refused up front.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { daemonInfo, isAlive, stopDaemon } from '../../node/daemon/index.js'
import { ownerPidFromEnv } from '../../node/daemon/owner-watch.js'
import { bt, ok } from '../cli/helpers.js'
import { tmpDir } from '../helpers/tmp.js'
import { until } from './helpers.js'

describe('BT_EXIT_WITH_PID', () => {
  test('parses a pid, refuses anything else', () => {
    assert.equal(ownerPidFromEnv({}), undefined)
    assert.equal(ownerPidFromEnv({ BT_EXIT_WITH_PID: '' }), undefined)
    assert.equal(ownerPidFromEnv({ BT_EXIT_WITH_PID: '4242' }), 4242)
    for (const bad of ['0', '-3', '12x', '1.5', 'me'])
      assert.throws(() => ownerPidFromEnv({ BT_EXIT_WITH_PID: bad }), /BT_EXIT_WITH_PID must be a process id/)
  })

  test('a bad value: bt up exits 2 with the reason and starts nothing', (t) => {
    const home = join(tmpDir(t), 'n')
    ok(bt(home, ['init', '--key-protection', 'none']))
    const r = bt(home, ['up', '--detach'], { env: { BT_EXIT_WITH_PID: 'soon' } })
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /BT_EXIT_WITH_PID must be a process id/)
    assert.equal(readDaemon(home), undefined)
  })

  test('the detached node stops once its owner exits', { timeout: 60_000 }, async (t) => {
    const home = join(tmpDir(t), 'n')
    ok(bt(home, ['init', '--key-protection', 'none']))
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    t.after(() => owner.kill('SIGKILL'))
    t.after(() => stopDaemon({ home }).catch(() => undefined))
    ok(bt(home, ['up', '--detach'], { env: { BT_EXIT_WITH_PID: String(owner.pid) } }))
    const info = await daemonInfo(home)
    assert.ok(info, 'the node serves')
    // Still serving a while later: the watch does not fire while the owner lives.
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok(isAlive(info.pid), 'the node runs while its owner does')
    owner.kill('SIGKILL')
    await until(() => !isAlive(info.pid), 15_000)
    assert.equal(await daemonInfo(home), undefined, 'the node stopped cleanly (daemon files removed)')
    assert.match(readFileSync(join(home, 'node.log'), 'utf8'), /process \d+ \(BT_EXIT_WITH_PID\) exited/)
  })
})

function readDaemon(home: string): string | undefined {
  try {
    return readFileSync(join(home, 'daemon.json'), 'utf8')
  } catch {
    return undefined
  }
}
