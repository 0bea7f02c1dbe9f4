/** What the engine sends stays within the protocol's limits whatever the local state holds. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_PENDING_WANTS } from '../../../sync/replica/chunk-server.js'
import { clipText } from '../../../sync/replica/peer-link.js'
import { memoryPair } from '../../../sync/transport/memory.js'
import { encodeMessage } from '../../../sync/wire/codec.js'
import { LIMITS } from '../../../sync/wire/messages.js'
import { pattern } from '../../node/helpers.js'
import { connect, nodeId, settle, swarm, TREE } from './helpers.js'

test('clipText keeps a reason within LIMITS.text bytes of UTF-8', () => {
  assert.equal(clipText('short'), 'short')
  const long = 'é'.repeat(2000)
  const clipped = clipText(long)
  assert.ok(Buffer.byteLength(clipped) <= LIMITS.text)
  assert.ok(clipped.length >= 400)
  assert.ok(Buffer.byteLength(clipText('x'.repeat(5000))) === LIMITS.text)
})

test('a membership log longer than one members message goes in several', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const extra = LIMITS.members + 10
  for (let i = 0; i < extra; i++) a.membership.set(nodeId(`r${i}`), 'reader')
  connect(a, b)
  await settle(rt, nodes)
  assert.equal(b.membership.entries().length, a.membership.entries().length)
  assert.equal(b.membership.roleOf(nodeId(`r${extra - 1}`)), 'reader')
})

test('a peer that floods want messages without reading the answers is cut off (EORDER), not queued without bound', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a] = nodes as [(typeof nodes)[0]]
  await a.volume.writeFile('/big.bin', pattern(2 * 1024 * 1024, 1))
  const ids = await a.store.chunkIds(a.tree.resolve('/big.bin')!.content!.ref)
  // bob's id, but a hand-driven peer that never reads: the engine's chunk sends stall on the window.
  const [raw, theirs] = memoryPair(nodeId('bob'), a.id)
  a.engine.attach(theirs)
  const send = (m: Parameters<typeof encodeMessage>[0]) => void raw.send(encodeMessage(m)).catch(() => {})
  send({ type: 'hello', version: 1, minVersion: 1, agent: 'flood' })
  send({ type: 'open', channel: 0, tree: TREE })
  for (let i = 0; i < MAX_PENDING_WANTS + 50; i++) send({ type: 'want', channel: 0, ids })
  await settle(rt, nodes)
  assert.ok(raw.closed)
  assert.equal(a.engine.stats().rejected.EORDER, 1)
})
