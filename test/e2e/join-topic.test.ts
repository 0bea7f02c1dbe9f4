/**
 * Joining without a usable address in the ticket (PROTOCOL.md section 6):
 * the joiner finds the inviter on the Hyperswarm DHT (by its key and under
 * the tree's topic). Real `bt up` processes running iroh and Hyperswarm, a
 * local hyperdht testnet:
 * - `bt invite --no-address` prints a ticket with no address; b joins with it;
 * - a ticket whose only address is dead (an iroh port nobody listens on): c
 *   joins all the same;
 * - b joins a second tree of the same inviter while already connected to it:
 *   the join goes over the open connection (a second Hyperswarm connection
 *   to the same node cannot be made).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeTicket, encodeTicket } from '../../sync/wire/ticket.js'
import { type BtNode, Cluster, converged } from './harness.js'

describe('join by the tree topic', () => {
  test('tickets with no address or a dead one; a second join over an open connection', {
    timeout: 300_000,
  }, async (t) => {
    const c = await Cluster.start(t, { transport: 'both' })
    await c.run(async () => {
      const [a, b, d] = (await c.addUp('a', 'b', 'c')) as [BtNode, BtNode, BtNode]
      await a.ok(['tree', 'create', 'team'])
      await a.ok(['put', '-', 'team:/from-a.txt'], { input: 'a\n' })

      const bare = (await a.ok(['invite', 'team', '--no-address'])).trim()
      assert.deepEqual(decodeTicket(bare).addrs, [], 'bt invite --no-address put an address in the ticket')
      assert.ok(
        decodeTicket((await a.ok(['invite', 'team'])).trim()).addrs.length > 0,
        'a plain ticket has addresses',
      )
      await b.ok(['join', bare], { timeoutMs: 90_000 })

      // Same invitation fields, but the only address leads nowhere.
      const dead = encodeTicket({
        ...decodeTicket((await a.ok(['invite', 'team'])).trim()),
        addrs: ['iroh:127.0.0.1:9'],
      })
      await d.ok(['join', dead], { timeoutMs: 90_000 })

      await b.ok(['put', '-', 'team:/from-b.txt'], { input: 'b\n' })
      await d.ok(['put', '-', 'team:/from-c.txt'], { input: 'c\n' })
      await converged([a, b, d], 'team', (s) =>
        ['/from-a.txt', '/from-b.txt', '/from-c.txt'].every((p) => p in s),
      )

      // b is connected to a (over both transports by now): a second tree's join reuses a connection.
      await a.ok(['tree', 'create', 'more'])
      await a.ok(['put', '-', 'more:/x.txt'], { input: 'x\n' })
      await b.ok(['join', (await a.ok(['invite', 'more', '--no-address'])).trim()], { timeoutMs: 90_000 })
      await converged([a, b], 'more', (s) => '/x.txt' in s)
    })
  })
})
