/**
 * Merge-on-close between local handles. Seeded: several handles write
 * disjoint ranges of one file (some past its end), commit in random order,
 * some several times. After each commit every fresh reader sees the base
 * with exactly the committed writes; each handle sees that plus its own
 * pending writes; at the end all writes survive. Also: reads racing a
 * commit of the same handle.
 */
import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDiskVolume, openMemoryVolume } from '../../node/open-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { pattern, put, readAll } from './helpers.js'

const { O_RDWR } = constants

class Rng {
  constructor(private x: number) {}
  next(n: number): number {
    this.x = (Math.imul(this.x, 1103515245) + 12345) >>> 0
    return (this.x >>> 8) % n
  }
}

/** Bytes and which of them are set. */
class Overlay {
  readonly bytes: Uint8Array
  readonly set: Uint8Array
  constructor(size: number) {
    this.bytes = new Uint8Array(size)
    this.set = new Uint8Array(size)
  }
  write(off: number, data: Uint8Array): void {
    this.bytes.set(data, off)
    this.set.fill(1, off, off + data.length)
  }
  end(): number {
    return this.set.lastIndexOf(1) + 1
  }
  applyTo(base: Uint8Array): Uint8Array {
    const out = new Uint8Array(Math.max(base.length, this.end()))
    out.set(base)
    for (let i = 0; i < out.length; i++) if (this.set[i]) out[i] = this.bytes[i]!
    return out
  }
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`disjoint writes of concurrent local handles all survive, seed ${seed}`, async (t) => {
    const v = await openMemoryVolume({
      nodeId: 'merge',
      key: new Uint8Array(32).fill(seed),
      runtime: new ManualRuntime(seed),
    })
    t.after(() => v.close())
    const rng = new Rng(seed)
    const baseSize = rng.next(300_000)
    let committed: Uint8Array = pattern(baseSize, seed)
    await put(v, '/f', committed)
    const k = 2 + rng.next(3)
    const limit = baseSize + 100_000
    // Split [0, limit) into k owned segments.
    const cuts = [0, ...Array.from({ length: k - 1 }, () => rng.next(limit)).sort((a, b) => a - b), limit]
    const handles = await Promise.all(
      Array.from({ length: k }, async (_, i) => ({
        fh: await v.open('/f', O_RDWR),
        lo: cuts[i]!,
        hi: cuts[i + 1]!,
        pending: new Overlay(limit),
        done: false,
      })),
    )
    for (let step = 0; step < 60; step++) {
      const h = handles[rng.next(k)]!
      if (h.done) continue
      const action = rng.next(10)
      if (action < 7 && h.hi > h.lo) {
        const off = h.lo + rng.next(h.hi - h.lo)
        const len = 1 + rng.next(Math.min(20_000, h.hi - off))
        const data = pattern(len, seed * 1000 + step)
        await v.write(h.fh, off, data)
        h.pending.write(off, data)
      } else {
        if (action === 9) {
          await v.release(h.fh)
          h.done = true
        } else {
          await v.fsync(h.fh)
        }
        committed = h.pending.applyTo(committed)
        h.pending = new Overlay(limit)
        assert.deepEqual(await readAll(v, '/f'), committed, `readers see the committed state (step ${step})`)
      }
      for (const o of handles.filter((x) => !x.done)) {
        const view = o.pending.applyTo(committed)
        const { size } = await v.getattr('/f', o.fh)
        assert.equal(size, view.length, `handle size (step ${step})`)
        assert.deepEqual(await v.read(o.fh, 0, size), view, `handle view (step ${step})`)
      }
    }
    for (const h of handles.filter((x) => !x.done)) {
      await v.release(h.fh)
      committed = h.pending.applyTo(committed)
    }
    assert.deepEqual(await readAll(v, '/f'), committed)
  })
}

test('reads racing a commit of the same handle see whole, correct bytes', async (t) => {
  const v = await openDiskVolume({
    dir: join(tmpDir(t), 'vol'),
    nodeId: 'race',
    key: new Uint8Array(32).fill(1),
    runtime: new ManualRuntime(1),
  })
  t.after(() => v.close())
  const data = pattern(3 * 1024 * 1024, 5) // past the spill threshold: staged on disk
  const { fh } = await v.create('/r', 0o644)
  for (let round = 0; round < 3; round++) {
    await v.write(fh, round * 100, data.subarray(round * 100))
    const [a, , b] = await Promise.all([v.read(fh, 0, data.length), v.fsync(fh), v.read(fh, 1000, 5000)])
    assert.deepEqual(a, data)
    assert.deepEqual(b, data.subarray(1000, 6000))
  }
  await v.release(fh)
})
