import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/volume-ops runs in --quick mode', () => {
  const out = runQuickBench('volume-ops')
  assert.match(out, /cow edit: 1 MiB into 8 MiB/)
  assert.match(out, /small files: 100 x/)
})
