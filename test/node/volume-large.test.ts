/** A file much larger than what the Volume may hold in memory goes through a handle in bounded memory. */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDiskVolume } from '../../node/open-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { pattern } from './helpers.js'

const MiB = 1024 * 1024
const SIZE_MIB = 256
/** Well below the file size: holding the file (or its branch) in memory would exceed it. */
const RSS_LIMIT = 160 * MiB

test(`a ${SIZE_MIB} MiB file written through a handle and read back in bounded memory`, async (t) => {
  const v = await openDiskVolume({
    dir: join(tmpDir(t), 'vol'),
    nodeId: 'big',
    key: new Uint8Array(32).fill(8),
    runtime: new ManualRuntime(8),
  })
  t.after(() => v.close())
  const pieces = [pattern(MiB, 1), pattern(MiB, 2), pattern(MiB, 3)]
  const base = process.memoryUsage().rss
  let peak = base
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }
  const want = createHash('sha256')
  const { fh } = await v.create('/big', 0o644)
  for (let i = 0; i < SIZE_MIB; i++) {
    await v.write(fh, i * MiB, pieces[i % 3]!)
    want.update(pieces[i % 3]!)
    sample()
  }
  const timer = setInterval(sample, 5)
  t.after(() => clearInterval(timer))
  await v.release(fh)
  assert.equal((await v.lookup('/big')).size, SIZE_MIB * MiB)
  const got = createHash('sha256')
  for await (const p of v.readStream('/big')) {
    got.update(p)
    sample()
  }
  clearInterval(timer)
  assert.equal(got.digest('hex'), want.digest('hex'))
  assert.ok(peak - base < RSS_LIMIT, `RSS grew by ${((peak - base) / MiB).toFixed(0)} MiB`)
})
