/**
 * Who may do what: non-members are refused, a reader's changes and changes
 * by a non-writer author are refused with nothing applied, revocation closes
 * the channel and the connection, a join with a good proof is welcomed and
 * a bad one refused, and malformed or out-of-order frames close the
 * connection with a counted reason.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeSyncMessage } from '../../../sync/automerge.js'
import type { Engine } from '../../../sync/replica/engine.js'
import type { InviteBook } from '../../../sync/replica/types.js'
import { memoryPair } from '../../../sync/transport/memory.js'
import type { Connection } from '../../../sync/transport/types.js'
import { decodeMessage, encodeMessage } from '../../../sync/wire/codec.js'
import type { Message, Role } from '../../../sync/wire/messages.js'
import { verifyJoinProof } from '../../../sync/wire/ticket.js'
import { enc } from '../../node/helpers.js'
import { memTree } from '../helpers.js'
import { connect, KEY, makeNode, nodeId, settle, swarm, type TestNode, TREE } from './helpers.js'

/** A hand-driven peer: the frames it received, and a send that encodes. */
function rawPeer(from: string, to: TestNode) {
  const [mine, theirs] = memoryPair(from, to.id)
  const got: Message[] = []
  const closed: string[] = []
  mine.onFrame((f) => got.push(decodeMessage(f)))
  mine.onClose((i) => closed.push(i.reason))
  to.engine.attach(theirs)
  const send = (m: Message) => mine.send(encodeMessage(m))
  return { conn: mine, got, closed, send }
}

/** A sync message from `author`'s tree that carries its changes (what a peer lacking them is sent). */
function changesOf(author: TestNode): Uint8Array {
  const scratch = memTree('scratch').tree
  const mine = author.tree.newSyncState()
  const theirs = scratch.newSyncState()
  for (let i = 0; i < 10; i++) {
    const m = author.tree.syncMessage(0, mine)
    if (!m) break
    if (decodeSyncMessage(m).changes.length > 0) return m
    scratch.receiveSyncMessage(0, theirs, m)
    const back = scratch.syncMessage(0, theirs)
    if (back) author.tree.receiveSyncMessage(0, mine, back)
  }
  throw new Error('no sync message with changes')
}

test('a non-member is refused with ENOTMEMBER, counted, and its connection closed', async (t) => {
  const { rt, nodes, close } = await swarm(['alice'])
  t.after(close)
  const [a] = nodes as [TestNode]
  // mallory thinks she is a member (her own membership says so) and opens the tree.
  const m = await makeNode(rt, 'mallory', { members: { alice: 'admin', mallory: 'writer' } })
  t.after(async () => {
    await m.engine.close()
    await m.volume.close()
  })
  await m.volume.writeFile('/evil.txt', enc('x'))
  const before = a.tree.dumpView()
  const [cm] = connect(m, a)
  await settle(rt, [a, m])
  assert.ok(cm.closed)
  assert.equal(a.engine.stats().rejected.ENOTMEMBER, 1)
  assert.deepEqual(a.tree.dumpView(), before)
  assert.deepEqual(a.engine.peers(), [])
})

test("a reader's own changes never arrive, and a reader that sends changes anyway is refused (EFORBIDDEN, nothing applied)", async (t) => {
  const roles: Record<string, Role> = { alice: 'admin', rita: 'reader' }
  const { rt, nodes, close } = await swarm(['alice', 'rita'], { roles })
  t.after(close)
  const [a, r] = nodes as [TestNode, TestNode]
  await a.volume.writeFile('/shared.txt', enc('for everyone'))
  connect(a, r)
  await settle(rt, nodes)
  assert.ok(r.tree.resolve('/shared.txt'), 'the reader receives')
  // A well-behaved reader that changes its replica anyway sends nothing: alice's sync states tell it she is read-only to it.
  await r.volume.writeFile('/rita.txt', enc('mine'))
  await settle(rt, nodes)
  assert.equal(a.tree.resolve('/rita.txt'), undefined)
  assert.deepEqual(a.engine.stats().rejected, {})
  // A modified reader sends its changes anyway, on a second connection of its own.
  const before = a.tree.dumpView()
  const q = rawPeer(nodeId('rita'), a)
  await q.send({ type: 'hello', version: 1, minVersion: 1, agent: 'evil' })
  await q.send({ type: 'open', channel: 0, tree: TREE })
  await settle(rt, nodes)
  assert.ok(q.got.some((m) => m.type === 'accept' && m.channel === 0 && m.role === 'reader'))
  await q.send({ type: 'sync', channel: 0, shard: 0, data: changesOf(r) })
  await settle(rt, nodes)
  const refuse = q.got.find((m) => m.type === 'refuse')
  assert.ok(refuse && refuse.type === 'refuse' && refuse.code === 'EFORBIDDEN', JSON.stringify(refuse))
  assert.equal(a.engine.stats().rejected.EFORBIDDEN, 1)
  assert.deepEqual(a.tree.dumpView(), before)
  assert.equal(a.tree.resolve('/rita.txt'), undefined)
})

test('a writer relaying a change authored by a reader is refused; nothing of the message is applied', async (t) => {
  const roles: Record<string, Role> = { alice: 'admin', rita: 'reader', walt: 'writer' }
  const { rt, nodes, close } = await swarm(['alice', 'rita', 'walt'], { roles })
  t.after(close)
  const [a, r] = nodes as [TestNode, TestNode]
  await r.volume.writeFile('/forged.txt', enc('by a reader'))
  const before = a.tree.dumpView()
  const p = rawPeer(nodeId('walt'), a)
  await p.send({ type: 'hello', version: 1, minVersion: 1, agent: 'relay' })
  await settle(rt, nodes)
  // alice opened the tree to walt (a member); answer on her channel.
  const open = p.got.find((m) => m.type === 'open')
  assert.ok(open && open.type === 'open')
  await p.send({ type: 'accept', channel: open.channel, role: 'admin' })
  await p.send({ type: 'sync', channel: open.channel, shard: 0, data: changesOf(r) })
  await settle(rt, nodes)
  assert.ok(p.got.some((m) => m.type === 'refuse' && m.code === 'EFORBIDDEN'))
  assert.deepEqual(a.tree.dumpView(), before)
})

test('revocation closes the channel and the connection; the revoked node gets nothing new', async (t) => {
  const roles: Record<string, Role> = { alice: 'admin', bob: 'writer', carol: 'writer' }
  const { rt, nodes, close } = await swarm(['alice', 'bob', 'carol'], { roles })
  t.after(close)
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
  const [ab] = connect(a, b)
  connect(a, c)
  await settle(rt, nodes)
  const closes: string[] = []
  a.engine.onEvent((e) => {
    if (e.type === 'peer-close' && e.node === b.id) closes.push(e.reason)
  })
  a.membership.set(b.id, undefined)
  await settle(rt, nodes)
  assert.ok(ab.closed, 'the connection to bob is closed')
  assert.ok(
    closes.some((r) => r.includes('no longer a member')),
    closes.join('; '),
  )
  // carol learns the removal through alice's members message.
  assert.equal(c.membership.roleOf(b.id), undefined)
  await a.volume.writeFile('/after.txt', enc('secret'))
  await settle(rt, nodes)
  assert.ok(c.tree.resolve('/after.txt'))
  assert.equal(b.tree.resolve('/after.txt'), undefined)
  // bob comes back: refused.
  const [again] = connect(b, a)
  await settle(rt, nodes)
  assert.ok(again.closed)
  assert.equal(a.engine.stats().rejected.ENOTMEMBER, 1)
  assert.equal(b.tree.resolve('/after.txt'), undefined)
})

test("a removed writer's earlier changes still sync to a node that joins after the removal", async (t) => {
  const roles: Record<string, Role> = { alice: 'admin', walt: 'writer', nina: 'writer' }
  const { rt, nodes, close } = await swarm(['alice', 'walt', 'nina'], { roles })
  t.after(close)
  const [a, w, n] = nodes as [TestNode, TestNode, TestNode]
  await w.volume.writeFile('/by-walt.txt', enc('written while a writer'))
  connect(w, a)
  await settle(rt, nodes)
  assert.ok(a.tree.resolve('/by-walt.txt'))
  a.membership.set(w.id, undefined)
  await settle(rt, nodes)
  assert.equal(a.engine.peers().length, 0, 'walt was cut off')
  connect(n, a)
  await settle(rt, nodes)
  assert.equal(n.membership.roleOf(w.id), undefined)
  assert.ok(n.tree.resolve('/by-walt.txt'), "walt's history arrived")
  assert.deepEqual(n.tree.dumpView(), a.tree.dumpView())
  assert.deepEqual(n.engine.stats().rejected, {})
})

/** An InviteBook with one invite; the redeemer is added to the inviter's membership. */
function inviteBook(node: TestNode, secret: Uint8Array, role: Role): InviteBook & { used: boolean } {
  const book = {
    used: false,
    redeem(tree: string, invite: string, proof: Uint8Array, joiner: string): Role | undefined {
      if (book.used || tree !== TREE || invite !== 'aabbccddeeff0011') return undefined
      if (!verifyJoinProof(secret, proof, { tree, invite, joiner, inviter: node.id })) return undefined
      book.used = true
      node.membership.set(joiner, role)
      return role
    },
  }
  return book
}

test('join: a good proof is welcomed with key, role and members, then the tree syncs; a reused invite is refused', async (t) => {
  const { rt, nodes, close } = await swarm(['alice'])
  t.after(close)
  const [a] = nodes as [TestNode]
  const secret = new Uint8Array(32).fill(3)
  const book = inviteBook(a, secret, 'writer')
  // Recreate alice's engine with the invite book.
  await a.engine.close()
  const { createSyncEngine } = await import('../../../sync/replica/engine.js')
  const engine: Engine = createSyncEngine({ nodeId: a.id, runtime: rt, invites: book })
  engine.addTree(a.replica)
  a.engine = engine
  await a.volume.writeFile('/welcome.txt', enc('hello newcomer'))
  const j = await makeNode(rt, 'june', { members: {} })
  j.engine.removeTree(TREE)
  t.after(async () => {
    await j.engine.close()
    await j.volume.close()
  })
  const [cj, ca] = memoryPair(j.id, a.id)
  a.engine.attach(ca)
  const joined = j.engine.join(cj, { tree: TREE, invite: 'aabbccddeeff0011', secret })
  await settle(rt, [a, j])
  const res = await joined
  assert.equal(res.role, 'writer')
  assert.equal(res.name, 'docs')
  assert.deepEqual([...res.key], [...KEY])
  assert.equal(a.membership.roleOf(j.id), 'writer')
  j.membership.merge(res.members)
  assert.equal(j.membership.roleOf(a.id), 'writer')
  j.engine.addTree(j.replica)
  await settle(rt, [a, j])
  assert.ok(j.tree.resolve('/welcome.txt'), 'the tree synced on the same connection')
  // The invite is used up.
  const k = await makeNode(rt, 'kim', { members: {} })
  t.after(async () => {
    await k.engine.close()
    await k.volume.close()
  })
  const [ck, ca2] = memoryPair(k.id, a.id)
  a.engine.attach(ca2)
  const second = k.engine.join(ck, { tree: TREE, invite: 'aabbccddeeff0011', secret })
  const outcome = second.then(
    () => 'joined',
    (e: Error) => e.message,
  )
  await settle(rt, [a, k])
  assert.match(await outcome, /EINVITE/)
  assert.equal(a.membership.roleOf(k.id), undefined)
})

async function expectClosedWith(
  a: TestNode,
  rt: Parameters<typeof settle>[0],
  frames: Uint8Array[],
  code: string,
): Promise<Connection> {
  const [mine, theirs] = memoryPair(nodeId('fuzz'), a.id)
  const got: Message[] = []
  mine.onFrame((f) => got.push(decodeMessage(f)))
  a.engine.attach(theirs)
  for (const f of frames) await mine.send(f).catch(() => {})
  await settle(rt, [a])
  assert.ok(mine.closed, 'closed')
  const err = got.find((m) => m.type === 'error')
  assert.ok(err && err.type === 'error' && err.code === code, JSON.stringify(got))
  return mine
}

test('malformed and out-of-order frames get an error frame, a closed connection and a count', async (t) => {
  const { rt, nodes, close } = await swarm(['alice'])
  t.after(close)
  const [a] = nodes as [TestNode]
  const hello = encodeMessage({ type: 'hello', version: 1, minVersion: 1, agent: 'x' })
  await expectClosedWith(a, rt, [new Uint8Array([200, 1, 2])], 'EMALFORMED')
  await expectClosedWith(a, rt, [encodeMessage({ type: 'open', channel: 0, tree: TREE })], 'EORDER')
  await expectClosedWith(a, rt, [hello, hello], 'EORDER')
  await expectClosedWith(
    a,
    rt,
    [encodeMessage({ type: 'hello', version: 9, minVersion: 9, agent: 'future' })],
    'EVERSION',
  )
  await expectClosedWith(
    a,
    rt,
    [hello, encodeMessage({ type: 'sync', channel: 6, shard: 0, data: new Uint8Array([1]) })],
    'EORDER',
  )
  await expectClosedWith(a, rt, [hello, encodeMessage({ type: 'open', channel: 1, tree: TREE })], 'EORDER')
  const s = a.engine.stats()
  assert.equal(s.rejected.EMALFORMED, 1)
  assert.equal(s.rejected.EORDER, 4)
  assert.equal(s.rejected.EVERSION, 1)
  assert.deepEqual(a.engine.peers(), [])
})
