import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

test('bench/store-ingest --quick runs and prints our figure beside the baselines', () => {
  const out = runQuickBench('store-ingest')
  assert.match(out, /ours ingest .*MB\/s/)
  assert.match(out, /ours ingest CPU: [\d.]+ ms\/MiB in all, ([\d.]+|NaN) ms\/MiB on the main thread/)
  assert.match(out, /baseline b3sum/)
  assert.match(out, /ours sequential read .*MB\/s/)
  assert.match(out, /baseline fs.createReadStream read/)
})

test('bench/store-dedup --quick runs: rewrite matches a full write', () => {
  const out = runQuickBench('store-dedup')
  assert.match(out, /ours rewrite .*new chunk bytes/)
  assert.match(out, /baseline full write/)
  assert.match(out, /same FileRef: true/)
})
