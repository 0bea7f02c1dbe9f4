/**
 * Replicas converge through the engine: concurrent edits, conflict copies,
 * gossip of a local commit without anti-entropy, forwarding along a line of
 * three, anti-entropy repairing a dropped message.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerAddress } from '../../../sync/transport/types.js'
import { decodeMessage } from '../../../sync/wire/codec.js'
import { enc } from '../../node/helpers.js'
import { ANTI_ENTROPY_MS, connect, contents, elapse, filtered, nodeId, settle, swarm } from './helpers.js'

test('two replicas with concurrent edits converge, with a conflict copy for the file both wrote', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  await a.volume.mkdir('/docs', 0o755)
  await a.volume.writeFile('/docs/a.txt', enc('from alice'))
  await a.volume.writeFile('/same.txt', enc('alice wrote this'))
  await b.volume.writeFile('/b.txt', enc('from bob'))
  rt.advance(1000)
  await b.volume.writeFile('/same.txt', enc('bob wrote that'))
  connect(a, b)
  await settle(rt, nodes)
  assert.deepEqual(a.tree.dumpView(), b.tree.dumpView())
  const ca = await contents(a.volume)
  assert.deepEqual(ca, await contents(b.volume))
  assert.equal(Buffer.from(ca['/docs/a.txt']!, 'hex').toString(), 'from alice')
  assert.equal(Buffer.from(ca['/b.txt']!, 'hex').toString(), 'from bob')
  // One name wins, the other version is a conflict copy on both sides.
  const conflicts = a.tree.conflicts()
  assert.equal(conflicts.length, 1)
  assert.equal(conflicts[0]!.path, '/same.txt')
  assert.deepEqual(b.tree.conflicts(), conflicts)
  const copies = Object.keys(ca).filter((p) => p.includes('.conflict-'))
  assert.equal(copies.length, 1)
  const texts = [ca['/same.txt'], ca[copies[0]!]].map((h) => Buffer.from(h!, 'hex').toString()).sort()
  assert.deepEqual(texts, ['alice wrote this', 'bob wrote that'])
  // Both opened the tree at once: one channel each, nothing refused.
  assert.deepEqual(a.engine.stats().rejected, {})
  assert.deepEqual(b.engine.stats().rejected, {})
  assert.deepEqual(
    a.engine.peers().map((p) => p.trees),
    [[{ tree: a.replica.id, role: 'writer' }]],
  )
  assert.equal(a.engine.status(a.replica.id).state, 'synced')
  assert.equal(b.engine.status(b.replica.id).state, 'synced')
})

test('a local commit reaches a connected peer at once (no anti-entropy needed)', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  connect(a, b)
  await settle(rt, nodes)
  const events: string[] = []
  b.engine.onEvent((e) => {
    if (e.type === 'remote-change') events.push(`${e.from === a.id ? 'alice' : '?'}:${e.inodes}`)
  })
  const start = rt.clock.now()
  await a.volume.writeFile('/news.txt', enc('hot off the press'))
  await settle(rt, nodes)
  assert.equal(rt.clock.now(), start, 'no virtual time passed: no timer other than the 0-ms flush ran')
  assert.equal(Buffer.from((await contents(b.volume))['/news.txt']!, 'hex').toString(), 'hot off the press')
  assert.ok(events.length >= 1 && events.every((e) => e.startsWith('alice:')))
})

test('a line of three converges: the middle node forwards changes both ways', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob', 'carol'])
  t.after(close)
  const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
  connect(a, b)
  connect(b, c)
  await settle(rt, nodes)
  await a.volume.writeFile('/from-a.txt', enc('a'))
  await c.volume.writeFile('/from-c.txt', enc('c'))
  await c.volume.mkdir('/dir', 0o700)
  await settle(rt, nodes)
  const want = await contents(a.volume)
  assert.deepEqual(Object.keys(want).sort(), ['/from-a.txt', '/from-c.txt'])
  assert.deepEqual(await contents(c.volume), want)
  assert.deepEqual(a.tree.dumpView(), c.tree.dumpView())
  assert.deepEqual(b.tree.dumpView(), c.tree.dumpView())
})

test('anti-entropy repairs a dropped sync message', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  let drop = false
  let dropped = 0
  connect(a, b, (c) =>
    filtered(c, (frame) => {
      if (drop && decodeMessage(frame).type === 'sync') {
        dropped++
        return undefined
      }
      return frame
    }),
  )
  await settle(rt, nodes)
  drop = true
  await a.volume.writeFile('/lost.txt', enc('first try lost'))
  await settle(rt, nodes)
  drop = false
  assert.ok(dropped >= 1)
  assert.equal(b.tree.resolve('/lost.txt'), undefined, 'the gossip was dropped')
  assert.equal(a.engine.status(a.replica.id).state, 'syncing')
  await elapse(rt, nodes, ANTI_ENTROPY_MS + 1000, 5000)
  assert.equal(Buffer.from((await contents(b.volume))['/lost.txt']!, 'hex').toString(), 'first try lost')
  assert.deepEqual(a.tree.dumpView(), b.tree.dumpView())
  assert.equal(a.engine.status(a.replica.id).state, 'synced')
})

test('peer exchange: addresses a peer knows for the tree reach the other side as an event', async (t) => {
  const carol: PeerAddress = { node: nodeId('carol'), addrs: ['iroh:127.0.0.1:4000'] }
  const { rt, nodes, close } = await swarm(['alice', 'bob'], {
    engine: { alice: { knownPeers: () => [carol, { node: nodeId('bob'), addrs: ['iroh:127.0.0.1:1'] }] } },
  })
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const got: PeerAddress[][] = []
  b.engine.onEvent((e) => {
    if (e.type === 'addresses') got.push(e.peers)
  })
  connect(a, b)
  await settle(rt, nodes)
  // bob is not told his own address.
  assert.deepEqual(got, [[carol]])
})

test('a tree removed locally closes its channels; status and peers report the connection while it lasts', async (t) => {
  const { rt, nodes, close } = await swarm(['alice', 'bob'])
  t.after(close)
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const [ab] = connect(a, b)
  await settle(rt, nodes)
  const p = a.engine.peers()
  assert.equal(p.length, 1)
  assert.equal(p[0]!.node, b.id)
  assert.equal(p[0]!.connections[0]!.transport, 'memory')
  assert.equal(p[0]!.connections[0]!.initiator, true)
  assert.equal(p[0]!.connections[0]!.rttMs, 0, 'virtual time stood still')
  assert.ok(p[0]!.connections[0]!.bytesOut > 0)
  const st = b.engine.status(b.replica.id)
  assert.equal(st.peers, 1)
  assert.equal(st.state, 'synced')
  const closes: string[] = []
  a.engine.onEvent((e) => {
    if (e.type === 'peer-close') closes.push(`${e.tree ?? '-'} ${e.reason}`)
  })
  b.engine.removeTree(b.replica.id)
  await settle(rt, nodes)
  assert.ok(
    closes.some((c) => c.startsWith(a.replica.id) && c.includes('ENOTREE')),
    closes.join('; '),
  )
  assert.ok(ab.closed, 'no tree left in common: the connection closes')
  assert.equal(a.engine.status(a.replica.id).state, 'offline')
  assert.throws(() => b.engine.status(b.replica.id), /not replicated/)
})
