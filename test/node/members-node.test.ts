/**
 * Membership, invitations and pins through LocalNode without a daemon: the
 * genesis of new and of pre-existing trees, admin-only operations, the
 * InviteBook the engine redeems with, pins, and what a node without
 * replication reports.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { initNode } from '../../node/identity.js'
import { type LocalNode, openLocalNode } from '../../node/local-node.js'
import { NodeError } from '../../node/node-error.js'
import { loadTickets } from '../../node/node-sync.js'
import { TreeRegistry } from '../../node/trees.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'

const isNodeError = (code: string, msg?: RegExp) => (e: unknown) =>
  e instanceof NodeError && e.code === code && (!msg || msg.test(e.message))

async function open(t: { after(fn: () => unknown): void }, seed = 1): Promise<LocalNode> {
  const home = tmpDir(t)
  await initNode({ home, protection: 'none', runtime: new ManualRuntime(seed) })
  const node = await openLocalNode({ home, runtime: new ManualRuntime(seed + 100) })
  t.after(() => node.close())
  return node
}

const OTHER = 'b'.repeat(64)

describe('members and invites without a daemon', () => {
  test('tree create makes this node the first admin; invite prints a ticket and says the node is down', async (t) => {
    const node = await open(t)
    await node.treeCreate('docs')
    assert.deepEqual(await node.members('docs'), [
      { node: node.nodeId, role: 'admin', self: true, connected: false },
    ])
    const inv = await node.invite('docs', { role: 'reader', expiresInMs: 3_600_000 })
    assert.equal(inv.reachable, false)
    assert.equal(inv.role, 'reader')
    const { decodeTicket } = await loadTickets()
    const ticket = decodeTicket(inv.ticket)
    assert.equal(ticket.inviter, node.nodeId)
    assert.equal(ticket.name, 'docs')
    assert.equal(ticket.invite, inv.invite)
    assert.equal(ticket.expires, inv.expires)
    assert.deepEqual(ticket.addrs, [], 'no daemon ever ran: no address to hint')
    await assert.rejects(node.invite('docs', { expiresInMs: 0 }), isNodeError('EBADNAME', /expires/))
    await assert.rejects(node.invite('nope'), isNodeError('ENOTREE'))
  })

  test('the InviteBook: a proven joiner becomes a member once, a wrong proof or a replay by another node does not', async (t) => {
    const node = await open(t)
    const tree = await node.treeCreate('docs')
    const inv = await node.invite('docs', { role: 'writer' })
    const { decodeTicket, joinProof } = await loadTickets()
    const tk = decodeTicket(inv.ticket)
    const proof = joinProof(tk.secret, tree.id, tk.invite, OTHER, node.nodeId)
    assert.equal(
      node.sync.redeem(
        tree.id,
        tk.invite,
        proof.map((b) => b ^ 1),
        OTHER,
      ),
      undefined,
    )
    assert.equal(node.sync.redeem(tree.id, tk.invite, proof, OTHER), 'writer')
    const third = 'c'.repeat(64)
    assert.equal(
      node.sync.redeem(
        tree.id,
        tk.invite,
        joinProof(tk.secret, tree.id, tk.invite, third, node.nodeId),
        third,
      ),
      undefined,
    )
    const members = await node.members('docs')
    assert.deepEqual(
      members.map((m) => [m.node, m.role]),
      [
        [node.nodeId, 'admin'],
        [OTHER, 'writer'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    )
    // Revocation by the admin; the admin itself cannot be removed.
    await node.removeMember('docs', OTHER)
    assert.equal((await node.members('docs')).length, 1)
    await assert.rejects(node.removeMember('docs', OTHER), isNodeError('ENOTMEMBER'))
    await assert.rejects(node.removeMember('docs', node.nodeId), isNodeError('EPERM'))
  })

  test('join needs the daemon; a bad ticket is ETICKET; a ticket for a tree already here is ETREEEXISTS', async (t) => {
    const a = await open(t, 1)
    const b = await open(t, 2)
    await a.treeCreate('docs')
    const inv = await a.invite('docs')
    await assert.rejects(b.join('bt1garbage'), isNodeError('ETICKET', /^invalid ticket/))
    await assert.rejects(b.join(inv.ticket), isNodeError('ENOTRUNNING', /bt up/))
    await assert.rejects(a.join(inv.ticket), isNodeError('ETREEEXISTS'))
    await b.treeCreate('docs')
    await assert.rejects(b.join(inv.ticket), isNodeError('ETREEEXISTS', /--name/))
    assert.deepEqual(await b.peers(), [])
    const s = await b.syncStatus()
    assert.equal(s.running, false)
    assert.deepEqual(
      s.trees.map((x) => [x.name, x.state, x.policy]),
      [['docs', 'stopped', 'all']],
    )
  })

  test('a tree created before replication gets its genesis on first open', async (t) => {
    const home = tmpDir(t)
    const rt = new ManualRuntime(3)
    const init = await initNode({ home, protection: 'none', runtime: rt })
    // An older bt registered the tree without a membership log.
    const { loadIdentity } = await import('../../node/identity.js')
    const id = await loadIdentity(home)
    const reg = new TreeRegistry(join(home, 'node.db'), id.wrapKey, rt.random)
    reg.add('old', 1)
    reg.close()
    const node = await openLocalNode({ home, runtime: rt })
    t.after(() => node.close())
    assert.deepEqual(
      (await node.members('old')).map((m) => [m.node, m.role]),
      [[init.nodeId, 'admin']],
    )
    assert.ok((await node.invite('old')).ticket.startsWith('bt1'))
  })

  test('pins: absolute paths of an existing tree; listed; unpin says whether it was pinned', async (t) => {
    const node = await open(t)
    await node.treeCreate('docs')
    assert.equal(await node.pin('docs', '/a'), true)
    assert.equal(await node.pin('docs', '/a'), false)
    assert.deepEqual(
      (await node.pins('docs')).map((p) => p.path),
      ['/a'],
    )
    assert.equal(await node.unpin('docs', '/a'), true)
    assert.equal(await node.unpin('docs', '/a'), false)
    await assert.rejects(node.pin('docs', 'relative'), isNodeError('EBADNAME'))
    await assert.rejects(node.pin('nope', '/a'), isNodeError('ENOTREE'))
  })
})
