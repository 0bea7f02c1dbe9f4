import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEFAULT_LINK, LinkNetwork, type LinkSpec } from '../../sim/links.js'
import { SimNet } from '../../sim/net.js'
import { Rng } from '../../sim/rng.js'
import { Scheduler } from '../../sim/scheduler.js'
import type { CloseInfo, Connection } from '../../sync/transport/types.js'
import { connectionSuite } from '../sync/transport/suite.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

/** A pair of simulated connections whose scheduler runs freely in real time (the suite waits in real time). */
function freeRunningPair(link: Partial<LinkSpec>) {
  return async () => {
    const sched = new Scheduler()
    const net = new SimNet(sched, new LinkNetwork(sched, new Rng(7, 'net'), { ...DEFAULT_LINK, ...link }))
    const ta = net.transport(A, new Rng(7, 'a'))
    const tb = net.transport(B, new Rng(7, 'b'))
    const accepted = new Promise<Connection>((r) => tb.onConnection(r))
    let running = true
    const driver = (async () => {
      while (running) {
        // An idle scheduler returns at once: yield to real time, or this loop starves the process.
        if ((await sched.run({ maxEvents: 200 })) === 'idle') await new Promise((r) => setTimeout(r, 5))
      }
    })()
    const a = await ta.dial({ node: B, addrs: [] })
    const b = await accepted
    return {
      a,
      b,
      aId: A,
      bId: B,
      close: async () => {
        running = false
        await driver
        await ta.close()
        await tb.close()
      },
    }
  }
}

connectionSuite('sim stream, clean links', freeRunningPair({}), {
  bulkBytes: 8 << 20,
  stallBound: 16 << 20,
})
connectionSuite(
  'sim stream, 10% loss, duplication, reordering',
  freeRunningPair({ loss: 0.1, dup: 0.05, reorder: 0.2 }),
  { bulkBytes: 4 << 20, stallBound: 16 << 20 },
)

/** Two transports on one virtual network, driven explicitly. */
function world(link: Partial<LinkSpec> = {}) {
  const sched = new Scheduler()
  const links = new LinkNetwork(sched, new Rng(3, 'net'), { ...DEFAULT_LINK, ...link })
  const net = new SimNet(sched, links)
  return { sched, links, net }
}

describe('sim stream on virtual time', () => {
  test('a long partition closes both ends by timeout; a crash is reset on the next datagram', async () => {
    const { sched, links, net } = world()
    const ta = net.transport(A, new Rng(1, 'a'))
    const tb = net.transport(B, new Rng(1, 'b'))
    let b: Connection | undefined
    tb.onConnection((c) => {
      b = c
    })
    const dialled = ta.dial({ node: B, addrs: [] })
    await sched.run({ until: sched.now() + 1000 })
    const a = await dialled
    assert.ok(b)
    const closes: CloseInfo[] = []
    a.onClose((i) => closes.push(i))
    b.onClose((i) => closes.push(i))
    links.partition([[A], [B]])
    await sched.run({ until: sched.now() + 60_000 })
    assert.deepEqual(
      closes.map((c) => c.reason),
      ['timed out', 'timed out'],
    )
    links.heal()
    // Reconnect, then B crashes and restarts: A's next datagram is answered with a reset.
    const again = ta.dial({ node: B, addrs: [] })
    await sched.run({ until: sched.now() + 1000 })
    const a2 = await again
    const closed2: CloseInfo[] = []
    a2.onClose((i) => closed2.push(i))
    tb.kill()
    const tb2 = net.transport(B, new Rng(2, 'b'))
    tb2.onConnection(() => {})
    void a2.send(new Uint8Array([1, 2, 3])).catch(() => {})
    await sched.run({ until: sched.now() + 5000 })
    assert.equal(closed2.length, 1)
    assert.match(closed2[0]!.reason, /reset/)
    assert.equal(closed2[0]!.local, false)
  })

  test('a dial to a node that is down fails after the dial timeout', async () => {
    const { sched, net } = world()
    const ta = net.transport(A, new Rng(1, 'a'))
    const started = sched.now()
    let err: Error | undefined
    ta.dial({ node: B, addrs: [] }).catch((e) => {
      err = e
    })
    await sched.run({ until: started + 10_000 })
    assert.match(String(err?.message), /timed out/)
  })

  test('same seed, same trace hash; another seed, another hash', async () => {
    const run = async (seed: number) => {
      const sched = new Scheduler()
      const links = new LinkNetwork(sched, new Rng(seed, 'net'), { ...DEFAULT_LINK, loss: 0.2, reorder: 0.3 })
      const net = new SimNet(sched, links)
      const ta = net.transport(A, new Rng(seed, 'a'))
      const tb = net.transport(B, new Rng(seed, 'b'))
      const got: number[] = []
      tb.onConnection((c) => c.onFrame((f) => got.push(f[0]!)))
      const d = ta.dial({ node: B, addrs: [] })
      await sched.run({ until: sched.now() + 2000 })
      const a = await d
      for (let i = 0; i < 50; i++) void a.send(new Uint8Array([i, 1, 2]))
      await sched.run({ until: sched.now() + 30_000 })
      assert.deepEqual(
        got,
        Array.from({ length: 50 }, (_, i) => i),
      )
      return sched.traceHash()
    }
    const h1 = await run(1)
    assert.equal(await run(1), h1)
    assert.notEqual(await run(2), h1)
  })
})
