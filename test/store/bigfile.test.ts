import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { seededBytes } from './util.js'

const MiB = 1024 * 1024
const SIZE = 256 * MiB

test('a 256 MiB streaming write and read keep RSS growth under 100 MiB', async (t) => {
  const store = createContentStore(
    new SqliteChunkBackend(openStoreDatabase(join(tmpDir(t, 'bt-big-'), 'tree.db')), { ownsDatabase: true }),
    { key: new Uint8Array(32).fill(1) },
  )
  t.after(() => store.close())
  const block = seededBytes(MiB + 13, 9)
  const base = process.memoryUsage().rss
  let peak = base
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }
  const written = createHash('sha256')
  async function* source(): AsyncIterable<Uint8Array> {
    for (let o = 0, i = 0; o < SIZE; i++) {
      // Vary each piece so chunks do not simply dedup against each other.
      const piece = Buffer.from(block.subarray(0, Math.min(block.length, SIZE - o)))
      piece.writeUInt32LE(i, 0)
      piece.writeUInt32LE(i * 7, piece.length >> 1)
      written.update(piece)
      o += piece.length
      sample()
      yield piece
    }
  }
  const ref = await store.write(source())
  assert.equal(ref.size, SIZE)
  const read = createHash('sha256')
  for await (const piece of store.stream(ref)) {
    read.update(piece)
    sample()
  }
  assert.equal(read.digest('hex'), written.digest('hex'))
  const growth = (peak - base) / MiB
  t.diagnostic(`RSS growth ${growth.toFixed(1)} MiB`)
  assert.ok(growth < 100, `RSS grew ${growth.toFixed(1)} MiB`)
})
