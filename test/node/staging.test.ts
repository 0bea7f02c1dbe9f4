import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { DiskStaging, MemoryStaging, type Staging } from '../../node/staging.js'
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
