/**
 * Three `bt up` processes share a tree over one transport (iroh alone, then
 * Hyperswarm alone with a local testnet bootstrap): invite, join, a write on
 * each node, identical trees and contents everywhere; then one node restarts
 * and is reconnected and brought up to date with no command of ours.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { type BtNode, Cluster, converged, poll, sha256, type TransportChoice } from './harness.js'
import { joinAs, peersOf, treeMembers } from './sync-cli.js'

for (const transport of ['iroh', 'hyperswarm'] as TransportChoice[]) {
  describe(`three nodes on ${transport}`, () => {
    test('invite, join, write on each: identical trees; a restarted peer is reconnected by itself', async (t) => {
      const c = await Cluster.start(t, { transport })
      await c.run(async () => {
        const [a, b, d] = (await c.addUp('a', 'b', 'c')) as [BtNode, BtNode, BtNode]
        await a.ok(['tree', 'create', 'docs'])
        await a.ok(['put', '-', 'docs:/from-a.txt'], { input: 'written on a\n' })

        await joinAs(a, b, 'docs', 'writer')
        await joinAs(a, d, 'docs', 'writer')

        // Every node lists all three members with their roles.
        for (const n of [a, b, d]) {
          const m = await poll(`${n.name} to list 3 members`, async () => {
            const ms = await treeMembers(n, 'docs')
            return ms.length === 3 ? ms : undefined
          })
          assert.deepEqual(
            new Map(m.map((x) => [x.node, x.role])),
            new Map([
              [a.nodeId, 'admin'],
              [b.nodeId, 'writer'],
              [d.nodeId, 'writer'],
            ]),
          )
        }

        const big = randomBytes(700_000) // several chunks
        await b.ok(['put', '-', 'docs:/from-b.txt'], { input: 'written on b\n' })
        await d.ok(['mkdir', '-p', 'docs:/dir/sub'])
        await d.ok(['put', '-', 'docs:/dir/sub/from-c.bin'], { input: big })
        await a.ok(['mv', 'docs:/from-a.txt', 'docs:/dir/moved-a.txt'])

        const snap = await converged([a, b, d], 'docs', (s) =>
          ['/from-b.txt', '/dir/sub/from-c.bin', '/dir/moved-a.txt'].every(
            (p) => p in s && !('/from-a.txt' in s),
          ),
        )
        assert.equal(snap['/dir/sub/from-c.bin']?.content, sha256(big))
        assert.equal(snap['/dir/moved-a.txt']?.content, sha256('written on a\n'))
        assert.deepEqual(Object.keys(snap), [
          '/dir',
          '/dir/moved-a.txt',
          '/dir/sub',
          '/dir/sub/from-c.bin',
          '/from-b.txt',
        ])
        // The CLI reads the same bytes on a node that did not write them.
        assert.equal(await b.ok(['cat', 'docs:/dir/moved-a.txt']), 'written on a\n')

        // Each node is connected to the two others over the chosen transport.
        for (const n of [a, b, d]) {
          const others = [a, b, d].filter((x) => x !== n).map((x) => x.nodeId)
          const peers = await poll(`${n.name} to list its 2 peers`, async () => {
            const ps = await peersOf(n)
            return others.every((o) => ps.some((p) => p.node === o)) ? ps : undefined
          })
          for (const p of peers.filter((x) => others.includes(x.node)))
            assert.ok(p.transports.includes(transport), `${n.name} -> ${p.node}: ${p.transports.join(',')}`)
        }

        // b restarts; nobody runs a command to reconnect it, yet a change made meanwhile arrives.
        await b.stop()
        await a.ok(['put', '-', 'docs:/while-b-was-down.txt'], { input: 'hello again\n' })
        await b.up()
        await poll('a to see b again', async () => (await peersOf(a)).some((p) => p.node === b.nodeId))
        await d.ok(['put', '-', 'docs:/after-restart.txt'], { input: 'after\n' })
        await converged([a, b, d], 'docs', (s) => '/while-b-was-down.txt' in s && '/after-restart.txt' in s)
      })
    })
  })
}
