import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Run `dist/bench/<name>.js --quick` as a child process (loopback only),
 * assert it exits 0, and return its stdout: the smoke test that keeps each
 * benchmark from rotting.
 */
export function runQuickBench(name: string, timeoutMs = 120_000): string {
  const script = fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url))
  const r = spawnSync(process.execPath, [script, '--quick'], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, BT_NETWORK: 'loopback' },
  })
  assert.equal(r.status, 0, r.stderr || r.error?.message)
  return r.stdout
}
