import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/node-start --quick runs and reports every mode', { timeout: 300_000 }, () => {
  const out = runQuickBench('node-start')
  assert.match(out, /^ {2}none \(floor\) +in process +[\d.]+ ms +bt status +[\d.]+ ms$/m)
  assert.match(out, /^ {2}passphrase \(scrypt 2\^17\) +in process +[\d.]+ ms \(\+[\d.]+\)/m)
  assert.match(out, /^ {2}tpm \(swtpm, TCP\) +in process +[\d.]+ ms \([+-][\d.]+\) +bt status +[\d.]+ ms/m)
})
