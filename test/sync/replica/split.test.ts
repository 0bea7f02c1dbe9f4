/** A sync message over the frame limit goes as several messages that apply in order. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeSyncMessage } from '../../../sync/automerge.js'
import { splitMessage } from '../../../sync/replica/shard-sync.js'
import { ROOT_ID } from '../../../sync/types.js'
import { memTree } from '../helpers.js'

test('a long backlog split into runs of changes converges like the whole message', () => {
  const a = memTree('alice').tree
  const b = memTree('bob').tree
  a.create(ROOT_ID, 'first', 'file', { mode: 0o644, mtime: 1 })
  a.commit()
  const sa = a.newSyncState()
  const sb = b.newSyncState()
  let biggest: Uint8Array = new Uint8Array()
  const exchange = (split: boolean): number => {
    let parts = 0
    for (let i = 0; i < 20; i++) {
      const m = a.syncMessage(0, sa)
      if (m) {
        if (m.length > biggest.length) biggest = m
        const pieces = split ? splitMessage(m, 600) : [m]
        parts = Math.max(parts, pieces.length)
        for (const p of pieces) b.receiveSyncMessage(0, sb, p)
      }
      const back = b.syncMessage(0, sb)
      if (back) a.receiveSyncMessage(0, sa, back)
      if (!m && !back) break
    }
    return parts
  }
  exchange(false)
  for (let i = 0; i < 40; i++) {
    a.create(ROOT_ID, `f${i}`, 'file', { mode: 0o644, mtime: i })
    a.commit()
  }
  const parts = exchange(true)
  assert.ok(parts >= 3, `split into ${parts} messages`)
  assert.deepEqual(b.dumpView(), a.dumpView())
  assert.ok(decodeSyncMessage(biggest).changes.length >= 40)
  assert.throws(() => splitMessage(biggest, 10), RangeError)
  assert.equal(splitMessage(biggest, 1 << 30).length, 1)
})
