import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { DiskStaging, MemoryStaging, SpillStaging, type Staging } from '../../node/staging.js'
import { type Teardown, tmpDir } from '../helpers/tmp.js'

function suite(name: string, make: (t: Teardown) => Staging) {
  describe(`staging: ${name}`, () => {
    test('sparse writes, reads of holes and past the end, truncate', async (t) => {
      const s = make(t)
      const f = await s.create()
      await f.write(100_000, Uint8Array.of(1, 2, 3))
      await f.write(65_535, Uint8Array.of(9, 9))
      const r = await f.read(65_534, 4)
      assert.deepEqual([...r], [0, 9, 9, 0])
      assert.deepEqual([...(await f.read(99_999, 6))], [0, 1, 2, 3, 0, 0])
      assert.equal((await f.read(5_000_000, 3)).length, 3)
      await f.truncate(100_001)
      assert.deepEqual([...(await f.read(99_999, 4))], [0, 1, 0, 0])
      await f.truncate(0)
      assert.deepEqual([...(await f.read(65_535, 2))], [0, 0])
      await f.close()
      await f.close()
      await s.close()
    })

    test('a large offset does not allocate the hole', async (t) => {
      const s = make(t)
      const f = await s.create()
      await f.write(50 * 2 ** 30, Uint8Array.of(7))
      assert.deepEqual([...(await f.read(50 * 2 ** 30 - 1, 2))], [0, 7])
      if (s.heldBytes !== undefined) assert.ok(s.heldBytes <= 64 * 1024)
      await f.close()
      if (s.heldBytes !== undefined) assert.equal(s.heldBytes, 0)
      await s.close()
    })
  })
}

suite('memory', () => new MemoryStaging())
suite('disk', (t) => DiskStaging.open(join(tmpDir(t), 'staging')))
suite('spill, default thresholds', (t) => new SpillStaging(DiskStaging.open(join(tmpDir(t), 'staging'))))
suite('spill, 64 KiB threshold', (t) =>
  new SpillStaging(DiskStaging.open(join(tmpDir(t), 'staging')), 64 * 1024))

test('SpillStaging moves a growing file to disk with its bytes, and respects the memory budget', async (t) => {
  const dir = join(tmpDir(t), 'staging')
  const s = new SpillStaging(DiskStaging.open(dir), 100_000, 150_000)
  const a = await s.create()
  const b = await s.create()
  await a.write(10, Uint8Array.of(1, 2, 3))
  await a.write(90_000, Uint8Array.of(4))
  assert.equal(s.heldBytes, 90_001)
  await b.write(0, new Uint8Array(80_000).fill(9)) // over the shared budget: b goes to disk
  assert.equal(s.heldBytes, 90_001)
  await a.write(200_000, Uint8Array.of(5)) // past the threshold: a goes to disk
  assert.equal(s.heldBytes, 0)
  assert.deepEqual([...(await a.read(9, 5))], [0, 1, 2, 3, 0])
  assert.deepEqual([...(await a.read(90_000, 1))], [4])
  assert.deepEqual([...(await a.read(199_999, 3))], [0, 5, 0])
  assert.equal((await b.read(79_999, 2)).join(), '9,0')
  await a.truncate(50)
  assert.deepEqual([...(await a.read(9, 5))], [0, 1, 2, 3, 0])
  assert.deepEqual([...(await a.read(90_000, 1))], [0])
  const c = await s.create()
  await c.write(0, new Uint8Array(100_000).fill(1)) // budget freed by the spills: stays in memory
  assert.equal((await c.read(99_999, 1))[0], 1)
  assert.equal(s.heldBytes, 100_000)
  await Promise.all([a.close(), b.close(), c.close()])
  await s.close()
})

test('DiskStaging removes stale files at open and leaves no names behind', async (t) => {
  const dir = join(tmpDir(t), 'staging')
  DiskStaging.open(dir)
  writeFileSync(join(dir, 'stage-1-1'), 'left by a crash')
  const s = DiskStaging.open(dir)
  assert.deepEqual(readdirSync(dir), [])
  const f = await s.create()
  await f.write(0, Uint8Array.of(1))
  assert.deepEqual(readdirSync(dir), [], 'staging files are unlinked while open')
  await s.close()
})
