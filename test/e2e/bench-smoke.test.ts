/** The replication benchmarks run end to end in --quick mode (so they cannot rot). */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'

describe('replication benchmarks --quick', () => {
  test('sync-transfer', () => {
    const out = runQuickBench('sync-transfer', 300_000)
    for (const k of ['hyperswarm', 'iroh']) {
      assert.match(
        out,
        new RegExp(
          `^baseline raw ${k}: 8 MiB in [\\d.]+ MiB/s; CPU per GiB: sender [\\d.]+ s, receiver [\\d.]+ s$`,
          'm',
        ),
      )
      assert.match(
        out,
        new RegExp(`^${k}: blocktree CPU per GiB: sender a [\\d.]+ s, receiver b [\\d.]+ s$`, 'm'),
      )
    }
    assert.match(out, /^hyperswarm: blocktree 8 MiB a -> b: [\d.]+ s, [\d.]+ MiB\/s/m)
    assert.match(
      out,
      /^iroh: blocktree \/ raw = \d+% \(goal 80%\); CPU per GiB ours \/ raw: sender [\d.]+x, receiver [\d.]+x$/m,
    )
  })
  test('sync-latency', () => {
    const out = runQuickBench('sync-latency', 300_000)
    for (const k of ['iroh'])
      assert.match(
        out,
        new RegExp(
          `^${k}: edit visible on b over 5 edits: p50 [\\d.]+ ms, p90 [\\d.]+ ms, p99 [\\d.]+ ms`,
          'm',
        ),
      )
  })
  test('sync-metadata', () => {
    const out = runQuickBench('sync-metadata', 300_000)
    for (const k of ['hyperswarm'])
      assert.match(out, new RegExp(`^${k}: fresh node has the metadata of 300 files in [\\d.]+ s`, 'm'))
  })
})
