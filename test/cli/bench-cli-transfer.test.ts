import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/cli-transfer runs in --quick mode', () => {
  const out = runQuickBench('cli-transfer')
  assert.match(out, /^baseline cp -r 20 files: /m)
  assert.match(out, /^no daemon: put -r .* files\/s\), get -r .* MiB\/s\)$/m)
  assert.match(out, /^daemon: put -r /m)
})
