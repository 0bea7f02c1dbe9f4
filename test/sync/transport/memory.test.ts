import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ManualRuntime } from '../../../sync/runtime.js'
import { MemoryNetwork, memoryPair } from '../../../sync/transport/memory.js'
import { connectionSuite } from './suite.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

connectionSuite(
  'memory pair',
  async () => {
    const [a, b] = memoryPair(A, B)
    return { a, b, aId: A, bId: B, close: async () => a.close() }
  },
  { bulkBytes: 64 * 1024 * 1024, stallBound: 2 * 1024 * 1024 },
)

connectionSuite(
  'memory network (delay on real timers)',
  async () => {
    const rt = {
      setTimeout: (fn: () => void, ms: number) => ({ cancel: clearTimeout.bind(null, setTimeout(fn, ms)) }),
    }
    const net = new MemoryNetwork({ timers: rt, delayMs: 1 })
    const ta = net.transport(A)
    const tb = net.transport(B)
    const accepted = new Promise<import('../../../sync/transport/types.js').Connection>((r) =>
      tb.onConnection(r),
    )
    ta.onConnection(() => {})
    const a = await ta.dial({ node: B, addrs: [] })
    const b = await accepted
    return {
      a,
      b,
      aId: A,
      bId: B,
      close: async () => {
        await ta.close()
        await tb.close()
      },
    }
  },
  { bulkBytes: 16 * 1024 * 1024, stallBound: 2 * 1024 * 1024 },
)

describe('memory transport', () => {
  test('delivery with a delay follows the injected timers only', async () => {
    const rt = new ManualRuntime(1)
    const [a, b] = memoryPair(A, B, { timers: rt.timers, delayMs: 50 })
    const got: number[] = []
    b.onFrame((f) => got.push(f[0]!))
    await a.send(Uint8Array.of(1))
    await a.send(Uint8Array.of(2))
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(got, [])
    rt.advance(49)
    assert.deepEqual(got, [])
    rt.advance(1)
    assert.deepEqual(got, [1, 2])
  })

  test('dial by node id; unknown, unreachable and closed nodes are refused', async () => {
    const net = new MemoryNetwork()
    const ta = net.transport(A)
    const tb = net.transport(B)
    ta.onConnection(() => {})
    const inbound: string[] = []
    tb.onConnection((c) => inbound.push(c.remoteId))
    const c = await ta.dial({ node: B, addrs: tb.addresses() })
    assert.equal(c.remoteId, B)
    assert.deepEqual(inbound, [A])
    await assert.rejects(ta.dial({ node: C, addrs: [] }), /unreachable/)
    await assert.rejects(ta.dial({ node: A, addrs: [] }), /self/)
    net.setReachable(B, false)
    assert.equal(c.closed, true)
    await assert.rejects(ta.dial({ node: B, addrs: [] }), /unreachable/)
    net.setReachable(B, true)
    const c2 = await ta.dial({ node: B, addrs: [] })
    assert.equal(c2.closed, false)
    await tb.close()
    await new Promise((r) => setImmediate(r))
    assert.equal(c2.closed, true)
    await assert.rejects(ta.dial({ node: B, addrs: [] }), /unreachable/)
    // A restarted node gets a new transport under the same id.
    const tb2 = net.transport(B)
    tb2.onConnection(() => {})
    assert.equal((await ta.dial({ node: B, addrs: [] })).remoteId, B)
    assert.throws(() => net.transport(B), /already/)
  })

  test('cut breaks links as a network failure: both ends see a non-local close', async () => {
    const net = new MemoryNetwork()
    const ta = net.transport(A)
    const tb = net.transport(B)
    ta.onConnection(() => {})
    let inbound: import('../../../sync/transport/types.js').Connection | undefined
    tb.onConnection((c) => {
      inbound = c
    })
    const c = await ta.dial({ node: B, addrs: [] })
    const infos: unknown[] = []
    c.onClose((i) => infos.push(i))
    inbound!.onClose((i) => infos.push(i))
    net.cut(A, B, 'cable pulled')
    assert.deepEqual(infos, [
      { reason: 'cable pulled', local: false },
      { reason: 'cable pulled', local: false },
    ])
    assert.deepEqual(net.connections(A), [])
  })
})
