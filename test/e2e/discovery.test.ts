/**
 * Finding members without the inviter, over Hyperswarm alone (local testnet):
 * b joins through a and goes away; c joins through a while b is away; a goes
 * offline. When b comes back, b and c find each other on the tree's DHT topic
 * (b has no address for c and does not even know c is a member: c's `open`
 * carries the proof of its admission, PROTOCOL.md section 4) and sync both ways.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type BtNode, Cluster, converged, poll } from './harness.js'
import { joinAs, treeMembers } from './sync-cli.js'

describe('discovery on the tree topic', () => {
  test('members that never met find each other through the topic after the inviter left', async (t) => {
    const c = await Cluster.start(t, { transport: 'hyperswarm' })
    await c.run(async () => {
      const [a, b, d] = (await c.addUp('a', 'b', 'c')) as [BtNode, BtNode, BtNode]
      await a.ok(['tree', 'create', 'team'])
      await a.ok(['put', '-', 'team:/from-a.txt'], { input: 'a\n' })
      await joinAs(a, b, 'team', 'writer')
      await converged([a, b], 'team', (s) => '/from-a.txt' in s)

      await b.stop()
      await joinAs(a, d, 'team', 'writer')
      await converged([a, d], 'team', (s) => '/from-a.txt' in s)
      await a.stop()
      const bMembers = await treeMembers(b, 'team') // b is down: its data dir
      assert.ok(!bMembers.some((m) => m.node === d.nodeId), 'b must not have heard of c before it restarts')

      await b.up()
      await b.ok(['put', '-', 'team:/from-b.txt'], { input: 'b\n' })
      await d.ok(['put', '-', 'team:/from-c.txt'], { input: 'c\n' })
      await converged([b, d], 'team', (s) => '/from-b.txt' in s && '/from-c.txt' in s, 120_000)
      // b learned c's membership from c itself, and found c under the topic.
      await poll('b to list c as a writer', async () =>
        (await treeMembers(b, 'team')).some((m) => m.node === d.nodeId && m.role === 'writer'),
      )
      const found = b.grep(new RegExp(`found ${d.nodeId.slice(0, 8)} under the topic of team`))
      assert.ok(found.length > 0, 'b did not find c through the topic lookup')
    })
  })
})
