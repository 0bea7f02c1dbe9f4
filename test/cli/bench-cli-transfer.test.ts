import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/cli-transfer runs in --quick mode', () => {
  const script = fileURLToPath(new URL('../../bench/cli-transfer.js', import.meta.url))
  const r = spawnSync(process.execPath, [script, '--quick'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, BT_NETWORK: 'loopback' },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^baseline cp -r 20 files: /m)
  assert.match(r.stdout, /^no daemon: put -r .* files\/s\), get -r .* MiB\/s\)$/m)
  assert.match(r.stdout, /^daemon: put -r /m)
})
