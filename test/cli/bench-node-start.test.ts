import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/node-start --quick runs and reports every mode', () => {
  const bench = fileURLToPath(new URL('../../bench/node-start.js', import.meta.url))
  const r = spawnSync(process.execPath, [bench, '--quick'], {
    encoding: 'utf8',
    env: { ...process.env, BT_NETWORK: 'loopback' },
    timeout: 120_000,
  })
  assert.equal(r.status, 0, r.stderr)
  for (const line of [
    /^ {2}none \(floor\) +in process +[\d.]+ ms +bt status +[\d.]+ ms$/m,
    /^ {2}passphrase \(scrypt 2\^17\) +in process +[\d.]+ ms \(\+[\d.]+\)/m,
    /^ {2}tpm \(swtpm, TCP\) +in process +[\d.]+ ms \([+-][\d.]+\) +bt status +[\d.]+ ms/m,
  ])
    assert.match(r.stdout, line)
})
