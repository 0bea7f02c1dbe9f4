import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/tpm-unlock --quick runs and reports every mode', () => {
  const out = runQuickBench('tpm-unlock', 60_000)
  assert.match(out, /^ {2}none\s+[\d.]+ ms/m)
  assert.match(out, /^ {2}passphrase .* baseline bare scrypt/m)
  assert.match(out, /^ {2}tpm \(swtpm.*baseline tpm2-tools chain: [\d.]+ ms/m)
  assert.match(out, /PCR 16 policy\s+[\d.]+ ms/)
})
