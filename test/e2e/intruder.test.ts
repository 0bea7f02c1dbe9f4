/**
 * A node that is not a member talks to a real `bt up` over iroh, speaking the
 * protocol itself (this test process with a fresh identity): its `open` of
 * the tree is refused with ENOTMEMBER and the connection closed; frames out
 * of order and garbage close the connection with a reason; the daemon keeps
 * serving, its tree is unchanged, and it logs each refusal.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { systemRuntime } from '../../sync/runtime.js'
import { openIrohTransport } from '../../sync/transport/iroh.js'
import type { CloseInfo, Connection } from '../../sync/transport/types.js'
import { decodeMessage, encodeMessage } from '../../sync/wire/codec.js'
import type { Message } from '../../sync/wire/messages.js'
import { type BtNode, Cluster, poll, sleep, snapshot } from './harness.js'

/** Frames received on a connection and how it ended. */
function watch(conn: Connection): { got: Message[]; closed: () => CloseInfo | undefined } {
  const got: Message[] = []
  let closed: CloseInfo | undefined
  conn.onFrame((f) => got.push(decodeMessage(f)))
  conn.onClose((i) => {
    closed = i
  })
  return { got, closed: () => closed }
}

const hello: Message = { type: 'hello', version: 1, minVersion: 1, agent: 'intruder' }

describe('a non-member speaking the protocol', () => {
  test('refused, disconnected and logged; garbage and out-of-order frames close only that connection', async (t) => {
    const c = await Cluster.start(t, { transport: 'iroh' })
    await c.run(async () => {
      const [a] = (await c.addUp('a')) as [BtNode]
      await a.ok(['tree', 'create', 'docs'])
      await a.ok(['put', '-', 'docs:/secret.txt'], { input: 'members only\n' })
      const tree = (await a.json<{ name: string; id: string }[]>(['tree', 'list'])).find(
        (x) => x.name === 'docs',
      )!.id
      const status = await a.json<{ sync: { addresses: string[] } }>(['status'])
      const addrs = status.sync.addresses.filter((x) => x.startsWith('iroh:'))
      assert.ok(addrs.length > 0, `a advertises no iroh address: ${JSON.stringify(status.sync)}`)
      const before = await snapshot(a, 'docs')

      const me = await openIrohTransport({
        seed: randomBytes(32),
        timers: systemRuntime().timers,
        network: 'loopback',
      })
      t.after(() => me.close())
      const peer = { node: a.nodeId, addrs }

      // 1. hello + open of a tree we are not a member of.
      const c1 = await me.dial(peer)
      const w1 = watch(c1)
      await c1.send(encodeMessage(hello))
      // The dialler numbers its channels even (PROTOCOL.md).
      await c1.send(encodeMessage({ type: 'open', channel: 2, tree }))
      await poll('a refusal of the open', () => w1.got.some((m) => m.type === 'refuse') || w1.closed())
      const refuse = w1.got.find((m) => m.type === 'refuse')
      assert.ok(
        refuse?.type === 'refuse',
        `no refuse before the close: ${JSON.stringify(w1.got)}, ${JSON.stringify(w1.closed())}`,
      )
      assert.equal(refuse.code, 'ENOTMEMBER')
      assert.equal(refuse.channel, 2)
      await poll('a to close the connection of a non-member', () => w1.closed())
      assert.ok(
        !w1.got.some((m) => m.type === 'members' || m.type === 'sync' || m.type === 'shards'),
        JSON.stringify(w1.got.map((m) => m.type)),
      )

      // 2. A sync frame on a channel that was never accepted: EORDER, connection closed.
      const c2 = await me.dial(peer)
      const w2 = watch(c2)
      await c2.send(encodeMessage(hello))
      await c2.send(encodeMessage({ type: 'sync', channel: 8, shard: 0, data: randomBytes(64) }))
      await poll('a to close after an out-of-order frame', () => w2.closed())
      const e2 = w2.got.find((m) => m.type === 'error')
      assert.ok(e2 && e2.type === 'error' && e2.code === 'EORDER', JSON.stringify(w2.got))

      // 3. Garbage after hello: EMALFORMED, closed.
      const c3 = await me.dial(peer)
      const w3 = watch(c3)
      await c3.send(encodeMessage(hello))
      await c3.send(Uint8Array.from([0xff, 1, 2, 3, 4, 5]))
      await poll('a to close after a malformed frame', () => w3.closed())
      const e3 = w3.got.find((m) => m.type === 'error')
      assert.ok(e3 && e3.type === 'error' && e3.code === 'EMALFORMED', JSON.stringify(w3.got))

      // a is fine: it serves, its tree is as it was, and it logged the refusals.
      await sleep(500)
      assert.deepEqual(await snapshot(a, 'docs'), before)
      assert.equal((await a.json<{ running: boolean }>(['status'])).running, true)
      const me8 = me.nodeId.slice(0, 8)
      for (const code of ['ENOTMEMBER', 'EORDER', 'EMALFORMED'])
        assert.ok(
          a.grep(new RegExp(`${me8}.*${code}`)).length > 0,
          `a did not log the ${code} refusal of ${me8}:\n${a.log()}`,
        )
    })
  })
})
