/**
 * The member dialer (node/member-dialer.ts, the daemon's peer manager) on
 * the in-memory network with a ManualRuntime: whom it dials, its backoff,
 * reconnection after a network failure or a peer restart, and that a run
 * replays exactly from its seed.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemberDialer } from '../../../node/member-dialer.js'
import { ManualRuntime } from '../../../sync/runtime.js'
import { MemoryNetwork } from '../../../sync/transport/memory.js'
import type { Connection, PeerAddress, Transport } from '../../../sync/transport/types.js'

const ME = '0'.repeat(64)
const P = '1'.repeat(64)
const Q = '2'.repeat(64)

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

/** A dialer for ME wanting `wanted`, over a memory transport that records dial times. */
function setup(seed: number, wanted: string[], perTransport = false) {
  const rt = new ManualRuntime(seed)
  const net = new MemoryNetwork()
  const inner = net.transport(ME)
  inner.onConnection(() => {})
  const dials: { at: number; node: string }[] = []
  const t: Transport = {
    kind: inner.kind,
    nodeId: ME,
    addresses: () => inner.addresses(),
    dial: (p: PeerAddress) => {
      dials.push({ at: rt.clock.now(), node: p.node })
      return inner.dial(p)
    },
    onConnection: (l) => inner.onConnection(l),
    close: () => inner.close(),
  }
  const live = new Map<string, Connection>()
  const logs: string[] = []
  const dialer = new MemberDialer({
    nodeId: ME,
    runtime: rt,
    transports: () => [t],
    wanted: () => wanted,
    connected: () => new Set(live.keys()),
    ...(perTransport
      ? { connectedOver: () => new Map([...live.keys()].map((n) => [n, new Set([t.kind])])) }
      : {}),
    addresses: (node) => [`memory:${node}`],
    attach: (conn) => {
      live.set(conn.remoteId, conn)
      conn.onClose(() => live.delete(conn.remoteId))
    },
    log: (l) => logs.push(l),
  })
  const peer = (id: string) => {
    const tp = net.transport(id)
    tp.onConnection(() => {})
    return tp
  }
  const advance = async (ms: number, step = 250) => {
    for (let done = 0; done < ms; done += step) {
      rt.advance(step)
      await flush()
    }
  }
  return { rt, net, dialer, dials, live, logs, peer, advance }
}

for (const perTransport of [false, true]) {
  describe(`member dialer on a memory network${perTransport ? ' (a connection per transport)' : ''}`, () => {
    test('dials each wanted member once, not itself, and not again while connected', async () => {
      const s = setup(1, [ME, P, Q], perTransport)
      s.peer(P)
      s.peer(Q)
      s.dialer.start()
      await s.advance(10_000)
      assert.deepEqual([...s.live.keys()].sort(), [P, Q])
      assert.deepEqual(s.dials.map((d) => d.node).sort(), [P, Q])
      s.dialer.close()
    })

    test('an unreachable member is retried with growing backoff, capped at a minute', async () => {
      const s = setup(2, [P], perTransport)
      s.dialer.start()
      await s.advance(15 * 60_000, 500)
      const gaps = s.dials.slice(1).map((d, i) => d.at - s.dials[i]!.at)
      assert.ok(gaps.length >= 8, `only ${s.dials.length} attempts`)
      // Doubling from ~1 s (plus up to 25% jitter and the 1 s round) ...
      for (let i = 1; i < 6; i++) assert.ok(gaps[i]! >= gaps[i - 1]!, `gaps ${gaps.slice(0, 8)}`)
      // ... to the cap: never more than 60 s + jitter + a round apart, and not hammering.
      assert.ok(Math.max(...gaps) <= 60_000 * 1.25 + 1000 + 500, `gap ${Math.max(...gaps)}`)
      assert.ok(s.dials.length <= 30, `${s.dials.length} attempts in 15 minutes`)
      assert.equal(
        s.logs.filter((l) => l.includes('cannot reach')).length,
        1,
        'one log line, not one per attempt',
      )
      s.dialer.close()
    })

    test('a member whose connections are dropped at once (revoked there) is redialled with backoff', async () => {
      const s = setup(5, [P], perTransport)
      // P accepts every connection and closes it straight away, as a node that removed us does.
      s.net.transport(P).onConnection((c) => c.close('not a member'))
      s.dialer.start()
      await s.advance(5 * 60_000, 500)
      const gaps = s.dials.slice(1).map((d, i) => d.at - s.dials[i]!.at)
      assert.ok(s.dials.length >= 4, `only ${s.dials.length} attempts`)
      assert.ok(s.dials.length <= 15, `${s.dials.length} dials in 5 minutes: not backing off`)
      for (let i = 1; i < 4; i++) assert.ok(gaps[i]! >= gaps[i - 1]!, `gaps ${gaps.slice(0, 6)}`)
      s.dialer.close()
    })

    test('a member that comes up later, drops off the network, or restarts is reconnected by itself', async () => {
      const s = setup(3, [P], perTransport)
      s.dialer.start()
      await s.advance(20_000)
      assert.equal(s.live.size, 0)
      const tp = s.peer(P)
      await s.advance(90_000)
      assert.ok(s.live.has(P), 'connected once it came up')
      // Network failure: the link breaks, the dialer redials.
      s.net.cut(ME, P)
      assert.equal(s.live.size, 0)
      await s.advance(5_000)
      assert.ok(s.live.has(P), 'reconnected after the cut')
      // Restart: the peer's transport closes and a new one comes up under the same id.
      await tp.close()
      await flush()
      assert.equal(s.live.size, 0)
      s.peer(P)
      await s.advance(5_000)
      assert.ok(s.live.has(P), 'reconnected after the restart')
      s.dialer.close()
    })

    test('the same seed replays the same dial times; another seed jitters differently', async () => {
      const times = async (seed: number) => {
        const s = setup(seed, [P], perTransport)
        s.dialer.start()
        await s.advance(5 * 60_000, 500)
        s.dialer.close()
        return s.dials.map((d) => d.at)
      }
      const a = await times(7)
      assert.deepEqual(await times(7), a)
      assert.notDeepEqual(await times(8), a)
    })
  })
}
