/** What the engine sends stays within the protocol's limits whatever the local state holds. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clipText } from '../../../sync/replica/peer-link.js'
import { LIMITS } from '../../../sync/wire/messages.js'
import { connect, nodeId, settle, swarm } from './helpers.js'

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
