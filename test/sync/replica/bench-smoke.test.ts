import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../../helpers/bench.js'

test('bench/sync-engine runs with --quick', () => {
  const out = runQuickBench('sync-engine')
  assert.match(out, /engine over a memory pair +\d+ MiB\/s/)
  assert.match(out, /baseline store-to-store +\d+ MiB\/s/)
  assert.match(out, /baseline syncTrees +[\d.]+ s/)
})
