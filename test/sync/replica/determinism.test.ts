/**
 * Same seed, same steps -> the same frames, byte for byte: the engine takes
 * time, timers and randomness only from the runtime (what lets `bt sim`
 * replay a run).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { enc, pattern } from '../../node/helpers.js'
import { ANTI_ENTROPY_MS, connect, elapse, filtered, settle, swarm } from './helpers.js'

async function run(seed: number): Promise<string> {
  const { rt, nodes, close } = await swarm(['alice', 'bob', 'carol'], { seed })
  try {
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    const h = createHash('sha256')
    const tap = (label: string) => (conn: Parameters<typeof filtered>[0]) =>
      filtered(conn, (frame) => {
        h.update(label)
        h.update(frame)
        return frame
      })
    await a.volume.writeFile('/a.bin', pattern(300_000, seed))
    await b.volume.mkdir('/dir', 0o755)
    connect(a, b, tap('ab'), tap('ba'))
    connect(b, c, tap('bc'), tap('cb'))
    await settle(rt, nodes)
    await c.volume.writeFile('/dir/c.txt', enc('carol'))
    await a.volume.rename('/a.bin', '/dir/a.bin')
    await settle(rt, nodes)
    await elapse(rt, nodes, ANTI_ENTROPY_MS * 2, 10_000)
    assert.deepEqual(a.tree.dumpView(), c.tree.dumpView())
    return h.digest('hex')
  } finally {
    await close()
  }
}

test('two runs from one seed send the same frames; another seed differs', async () => {
  const first = await run(42)
  assert.equal(await run(42), first)
  assert.notEqual(await run(43), first)
})
