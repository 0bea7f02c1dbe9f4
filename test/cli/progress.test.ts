/** Progress bars: rendering with a fake clock and width, redraw throttling, never when disabled. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { humanSize, modeString, table } from '../../node/cli/format.js'
import { formatDuration, Progress, renderProgress } from '../../node/cli/progress.js'

const MiB = 1024 * 1024

describe('renderProgress', { timeout: 300_000 }, () => {
  test('bytes, bar, percentage, rate and ETA', () => {
    const line = renderProgress(
      { label: 'big.iso', bytes: 25 * MiB, totalBytes: 100 * MiB, elapsedMs: 5000 },
      100,
    )
    assert.equal(
      line,
      'big.iso  [########......................]  25% 25.0 MiB / 100 MiB  5.00 MiB/s  ETA 15s',
    )
    assert.ok(line.length <= 100)
  })

  test('files for -r, and no ETA before any progress', () => {
    const line = renderProgress(
      { label: 'photos', bytes: 0, totalBytes: 10 * MiB, files: 0, totalFiles: 12, elapsedMs: 0 },
      80,
    )
    assert.match(line, /0\/12 files/)
    assert.match(line, /ETA --$/)
  })

  test('narrow terminals: the label shrinks, then the bar goes; never wider than the width', () => {
    const s = { label: 'a/very/long/path/to/some/file.bin', bytes: MiB, totalBytes: 4 * MiB, elapsedMs: 1000 }
    for (const w of [120, 80, 60, 40, 20]) assert.ok(renderProgress(s, w).length <= w, String(w))
    assert.ok(!renderProgress(s, 50).includes('['))
    assert.match(renderProgress(s, 75), /^…/)
  })

  test('unknown total (stdin): bytes and rate only', () => {
    assert.equal(renderProgress({ label: 'x', bytes: 2048, elapsedMs: 2000 }, 80), 'x  2.00 KiB  1.00 KiB/s')
  })

  test('durations', () => {
    assert.equal(formatDuration(42), '42s')
    assert.equal(formatDuration(187), '3m07s')
    assert.equal(formatDuration(3720), '1h02m')
  })
})

describe('Progress', { timeout: 300_000 }, () => {
  test('redraws at most every 100 ms of the fake clock, on stderr writes only', () => {
    let now = 0
    const writes: string[] = []
    const p = new Progress({
      enabled: true,
      write: (s) => writes.push(s),
      now: () => now,
      width: 80,
      label: 'f',
      totalBytes: 1000,
    })
    for (let i = 0; i < 100; i++) {
      now += 10
      p.add(10)
    }
    // 1 s of updates every 10 ms → 10 redraws.
    assert.equal(writes.length, 10)
    assert.ok(writes.every((w) => w.startsWith('\r') && w.endsWith('\x1b[K')))
    assert.match(writes[0]!, / {2}1% 10 B \/ 1000 B/)
    assert.match(writes.at(-1)!, / 91% 910 B \/ 1000 B/)
    p.done()
    assert.equal(writes.at(-1), '\r\x1b[K')
  })

  test('disabled (not a TTY or --quiet): writes nothing', () => {
    const writes: string[] = []
    const p = new Progress({
      enabled: false,
      write: (s) => writes.push(s),
      now: () => 0,
      width: 80,
      label: 'f',
    })
    p.add(1)
    p.fileDone()
    p.done()
    assert.deepEqual(writes, [])
  })
})

describe('format', { timeout: 300_000 }, () => {
  test('sizes, modes, tables', () => {
    assert.equal(humanSize(0), '0 B')
    assert.equal(humanSize(1023), '1023 B')
    assert.equal(humanSize(1536), '1.50 KiB')
    assert.equal(humanSize(5 * MiB), '5.00 MiB')
    assert.equal(humanSize(150 * MiB), '150 MiB')
    assert.equal(modeString(0o100644), '-rw-r--r--')
    assert.equal(modeString(0o040755), 'drwxr-xr-x')
    assert.equal(modeString(0o120777), 'lrwxrwxrwx')
    assert.deepEqual(
      table(
        [
          ['A', 'NUM'],
          ['long', '7'],
        ],
        [1],
      ),
      ['A     NUM', 'long    7'],
    )
  })
})
