import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/sync-tree runs with --quick', () => {
  const out = runQuickBench('sync-tree')
  assert.match(out, /sync to empty replica: [\d.]+ s/)
  assert.match(out, /local commit [\d.]+ ms, remote apply incl\. view [\d.]+ ms/)
  assert.match(out, /baseline: raw SQLite insert/)
})
