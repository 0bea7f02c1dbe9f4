import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { publicKeyHex } from '../../../node/identity.js'
import { systemRuntime } from '../../../sync/runtime.js'
import { type IrohTransport, openIrohTransport } from '../../../sync/transport/iroh.js'
import type { Connection } from '../../../sync/transport/types.js'
import { connectionSuite } from './suite.js'

process.env.BT_NETWORK ??= 'loopback'

const opened: IrohTransport[] = []
async function transport(seed = randomBytes(32)): Promise<IrohTransport> {
  const t = await openIrohTransport({
    seed,
    timers: systemRuntime().timers,
    network: 'loopback',
    timeoutMs: 5000,
  })
  opened.push(t)
  return t
}
after(async () => {
  for (const t of opened) await t.close()
})

/** Dial b from a; return both ends. */
async function connect(ta: IrohTransport, tb: IrohTransport): Promise<[Connection, Connection]> {
  const inbound = new Promise<Connection>((resolve) => tb.onConnection(resolve))
  const a = await ta.dial({ node: tb.nodeId, addrs: tb.addresses() })
  return [a, await inbound]
}

connectionSuite(
  'iroh (loopback)',
  async () => {
    const ta = await transport()
    const tb = await transport()
    ta.onConnection(() => {})
    const [a, b] = await connect(ta, tb)
    return {
      a,
      b,
      aId: ta.nodeId,
      bId: tb.nodeId,
      close: async () => {
        await ta.close()
        await tb.close()
      },
    }
  },
  // The binding moves ~5-10 MiB/s: keep the bulk small. QUIC flow control
  // and our credit window bound what a sender gets ahead.
  { bulkBytes: 4 * 1024 * 1024, stallBound: 16 * 1024 * 1024, bigFramesOneWay: true, timeoutMs: 300_000 },
)

describe('iroh transport', () => {
  test('the endpoint id is the node id of the identity seed', async () => {
    const seed = randomBytes(32)
    const t = await transport(seed)
    assert.equal(t.nodeId, publicKeyHex(seed))
  })

  test('binds loopback only and advertises iroh: hints', async () => {
    const t = await transport()
    const addrs = t.addresses()
    assert.ok(addrs.length > 0)
    for (const a of addrs) assert.match(a, /^iroh:(127\.0\.0\.1|\[::1\]):\d+$/)
  })

  test('a dial that reaches another node than asked for, or has no address, is refused', async () => {
    const ta = await transport()
    const tb = await transport()
    const tc = await transport()
    tb.onConnection(() => {})
    tc.onConnection(() => {})
    // b's address but c's id: the TLS handshake checks the id.
    await assert.rejects(ta.dial({ node: tc.nodeId, addrs: tb.addresses() }))
    await assert.rejects(ta.dial({ node: tb.nodeId, addrs: [] }), /no iroh address/)
    await assert.rejects(ta.dial({ node: tb.nodeId, addrs: ['hs:abcd'] }), /no iroh address/)
    await assert.rejects(ta.dial({ node: 'nope', addrs: tb.addresses() }), /not a node id/)
    // And the right pair still connects.
    const [a, b] = await connect(ta, tb)
    assert.equal(a.remoteId, tb.nodeId)
    assert.equal(b.remoteId, ta.nodeId)
  })

  test('a restarted peer (same seed, new endpoint) is reached at its new hints', async () => {
    // (A closed endpoint keeps its UDP port until the process exits, so the
    // same-port restart is covered by the two-daemon CLI test, not here.)
    const seed = randomBytes(32)
    const ta = await transport()
    ta.onConnection(() => {})
    const tb = await transport(seed)
    await connect(ta, tb)
    await tb.close()
    const tb2 = await transport(seed)
    assert.equal(tb2.nodeId, tb.nodeId)
    const [a, b] = await connect(ta, tb2)
    assert.equal(a.remoteId, tb2.nodeId)
    assert.equal(b.remoteId, ta.nodeId)
    a.close('done')
  })

  test('closing a transport closes its connections; the remote sees why', async () => {
    const ta = await transport()
    const tb = await transport()
    ta.onConnection(() => {})
    const [a, b] = await connect(ta, tb)
    const seen = new Promise((r) => b.onClose(r))
    await ta.close()
    assert.equal(a.closed, true)
    assert.deepEqual(await seen, { reason: 'transport closed', local: false })
    await assert.rejects(ta.dial({ node: tb.nodeId, addrs: tb.addresses() }))
  })
})
