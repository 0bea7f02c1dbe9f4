import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickBench } from '../helpers/bench.js'
import { fuseSkipReason } from '../helpers/fuse.js'

test('bench/fuse-mount runs in --quick mode', { skip: fuseSkipReason() }, () => {
  const out = runQuickBench('fuse-mount', 300_000)
  for (const row of [
    'create 200 x 4 KiB files',
    'stat of them',
    'sequential write 16 MiB',
    'sequential read',
    'random 4 KiB reads',
  ])
    assert.match(out, new RegExp(`^\\| ${row}.*\\| \\d+%`, 'm'))
  for (const row of ['create', 'stat', 'sequential write', 'sequential read', 'random 4 KiB read'])
    assert.match(
      out,
      new RegExp(`^\\| ${row} \\(ms per [A-Za-z ]+\\) \\| \\d+\\.\\d+ \\| \\d+\\.\\d+ \\|$`, 'm'),
    )
})
