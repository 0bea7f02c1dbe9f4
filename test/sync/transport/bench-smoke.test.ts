import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../../helpers/bench.js'

test('bench/net-raw runs with --quick', { timeout: 300_000 }, () => {
  const out = runQuickBench('net-raw', 280_000)
  assert.match(out, /memory: framed Connection [\d.]+ MiB\/s/)
  assert.match(
    out,
    /hyperswarm: bare socket [\d.]+ MiB\/s, our framed Connection [\d.]+ MiB\/s \(\d+% of bare/,
  )
  assert.match(out, /iroh: bare bi-stream [\d.]+ MiB\/s, our framed Connection [\d.]+ MiB\/s \(\d+% of bare/)
})
