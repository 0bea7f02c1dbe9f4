import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('bench/tpm-unlock --quick runs and reports every mode', () => {
  const bench = fileURLToPath(new URL('../../bench/tpm-unlock.js', import.meta.url))
  const r = spawnSync(process.execPath, [bench, '--quick'], {
    encoding: 'utf8',
    env: { ...process.env, BT_NETWORK: 'loopback' },
    timeout: 60_000,
  })
  assert.equal(r.status, 0, r.stderr)
  for (const line of [
    /^ {2}none\s+[\d.]+ ms/m,
    /^ {2}passphrase .* baseline bare scrypt/m,
    /^ {2}tpm \(swtpm.*baseline tpm2-tools chain: [\d.]+ ms/m,
    /PCR 16 policy\s+[\d.]+ ms/,
  ])
    assert.match(r.stdout, line)
})
