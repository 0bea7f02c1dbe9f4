import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/api-roundtrip runs in --quick mode', () => {
  const out = runQuickBench('api-roundtrip')
  assert.match(out, /through the socket, 1 at a time\s+\d+/)
  assert.match(out, /put through the socket\s+\d+/)
  assert.match(out, /baseline: raw node:net unix socket\s+\d+/)
})
