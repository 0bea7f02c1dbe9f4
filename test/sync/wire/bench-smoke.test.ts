import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../../helpers/bench.js'

test('bench/wire-codec --quick runs and prints its three figures beside their floors', () => {
  const out = runQuickBench('wire-codec')
  assert.match(out, /chunk frame 256 KiB .* GiB\/s .*floor/)
  assert.match(out, /want frame 4096 ids .* frames\/s .*floor/)
  assert.match(out, /membership entry .* \/s .*floor/)
})
