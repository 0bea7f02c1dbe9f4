import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/api-roundtrip runs in --quick mode', () => {
  const script = fileURLToPath(new URL('../../bench/api-roundtrip.js', import.meta.url))
  const r = spawnSync(process.execPath, [script, '--quick'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, BT_NETWORK: 'loopback' },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /through the socket, 1 at a time\s+\d+/)
  assert.match(r.stdout, /put through the socket\s+\d+/)
  assert.match(r.stdout, /baseline: raw node:net unix socket\s+\d+/)
})
