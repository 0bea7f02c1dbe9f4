import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runQuickBench } from '../helpers/bench.js'
import { tmpDir } from '../helpers/tmp.js'

const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))

function bt(args: string[], home: string) {
  return spawnSync(process.execPath, [BT, '--home', home, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, BT_NETWORK: 'loopback' },
  })
}

test('bt sim --json: seed, traceHash, converged, violations; --report writes one self-contained page', (t) => {
  const dir = tmpDir(t)
  const report = join(dir, 'r.html')
  const r = bt(
    [
      'sim',
      '--nodes',
      '3',
      '--steps',
      '20',
      '--seed',
      '9',
      '--crashes',
      '0.05',
      '--json',
      '--report',
      report,
    ],
    dir,
  )
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.seed, 9)
  assert.match(out.traceHash, /^[0-9a-f]{64}$/)
  assert.equal(out.converged, true)
  assert.deepEqual(out.violations, [])
  const html = readFileSync(report, 'utf8')
  assert.match(html, /<svg[^>]*>/)
  assert.doesNotMatch(html, /<script|src=|href=/, 'no external assets or scripts')
  // Same command, same trace.
  const again = bt(
    ['sim', '--nodes', '3', '--steps', '20', '--seed', '9', '--crashes', '0.05', '--json'],
    dir,
  )
  assert.equal(JSON.parse(again.stdout).traceHash, out.traceHash)
})

test('bt sim exits 1 on a violation with the seed and the command that reproduces it', (t) => {
  const dir = tmpDir(t)
  const r = bt(
    [
      'sim',
      '--nodes',
      '3',
      '--steps',
      '30',
      '--seed',
      '3',
      '--inject',
      'stale-view',
      '--settle',
      '60000',
      '--no-shrink',
    ],
    dir,
  )
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stderr, /violation\(s\) with seed 3/)
  assert.match(r.stderr, /reproduce: bt sim --nodes 3 --seed 3 --steps 30 --settle 60000 --inject stale-view/)
  assert.match(r.stdout, /violations: +[1-9]/)
})

test('bt sim usage errors exit 2', (t) => {
  const dir = tmpDir(t)
  for (const args of [
    ['--loss', '2'],
    ['--nodes', 'x'],
    ['--workload', 'boom=1'],
    ['--latency', '9-1ms'],
    ['--inject', 'nope'],
  ]) {
    const r = bt(['sim', ...args], dir)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
  }
})

test('bench/sim-scale --quick runs', () => {
  const out = runQuickBench('sim-scale', 300_000)
  assert.match(out, /ops\/s/)
  assert.match(out, /cpu \d+\.\d s \(\s*\d+ ops\/cpu-s\)/)
})
