import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { publicKeyHex } from '../../../node/identity.js'
import { systemRuntime } from '../../../sync/runtime.js'
import {
  type HyperswarmTransport,
  openHyperswarmTransport,
  treeTopic,
} from '../../../sync/transport/hyperswarm.js'
import type { Connection } from '../../../sync/transport/types.js'
import { type LocalTestnet, startTestnet } from '../../helpers/testnet.js'
import { connectionSuite } from './suite.js'

process.env.BT_NETWORK ??= 'loopback'

let testnet: LocalTestnet
// The testnet goes last: registered from inside a hook, node:test would run it when the hook ends.
before(async () => {
  testnet = await startTestnet({ after: () => {} })
})

const opened: HyperswarmTransport[] = []
async function transport(
  seed = randomBytes(32),
  bootstrap = testnet.bootstrap,
  onTopicPeer?: (node: string, topic: Uint8Array) => void,
): Promise<HyperswarmTransport> {
  const t = await openHyperswarmTransport({
    seed,
    timers: systemRuntime().timers,
    network: 'loopback',
    bootstrap,
    timeoutMs: 10_000,
    ...(onTopicPeer ? { onTopicPeer } : {}),
  })
  opened.push(t)
  return t
}
after(async () => {
  for (const t of opened) await t.close()
  await testnet.destroy()
})

async function connect(ta: HyperswarmTransport, tb: HyperswarmTransport): Promise<[Connection, Connection]> {
  const inbound = new Promise<Connection>((resolve) => tb.onConnection(resolve))
  const a = await ta.dial({ node: tb.nodeId, addrs: tb.addresses() })
  return [a, await inbound]
}

connectionSuite(
  'hyperswarm (loopback testnet)',
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
  // Our credit window (framed-connection.ts WINDOW) bounds how far a sender runs ahead.
  { bulkBytes: 32 * 1024 * 1024, stallBound: 16 * 1024 * 1024, timeoutMs: 300_000 },
)

describe('hyperswarm transport', () => {
  test('the Noise public key is the node id of the identity seed', async () => {
    const seed = randomBytes(32)
    const t = await transport(seed)
    assert.equal(t.nodeId, publicKeyHex(seed))
    assert.deepEqual(t.addresses(), [`hs:${t.nodeId}`])
  })

  test('treeTopic is BLAKE3 of the domain and the tree id bytes; bad ids throw', () => {
    const t1 = treeTopic('00112233445566778899aabbccddeeff')
    assert.equal(t1.length, 32)
    assert.notDeepEqual(t1, treeTopic('00112233445566778899aabbccddeefe'))
    assert.deepEqual(t1, treeTopic('00112233445566778899aabbccddeeff'))
    assert.throws(() => treeTopic('xyz'), /not a tree id/)
    assert.throws(() => treeTopic('00112233445566778899AABBCCDDEEFF'), /not a tree id/)
  })

  test('without a bootstrap under loopback: no DHT, starts at once, dials are refused', async () => {
    const started = Date.now()
    const t = await transport(randomBytes(32), [])
    assert.ok(Date.now() - started < 2000)
    assert.equal(t.active, false)
    assert.deepEqual(t.addresses(), [])
    await assert.rejects(t.dial({ node: 'a'.repeat(64), addrs: [] }), /no DHT/)
    await t.join(treeTopic('00112233445566778899aabbccddeeff'))
    await assert.rejects(
      openHyperswarmTransport({
        seed: randomBytes(32),
        timers: systemRuntime().timers,
        network: 'loopback',
        bootstrap: ['8.8.8.8:49737'],
      }),
      /only loopback bootstrap/,
    )
  })

  test('nodes that join one tree topic find and connect to each other (and report whom they found)', async () => {
    const topic = treeTopic(randomBytes(16).toString('hex'))
    const foundByB: [string, string][] = []
    const ta = await transport()
    const tb = await transport(randomBytes(32), testnet.bootstrap, (node, t) =>
      foundByB.push([node, Buffer.from(t).toString('hex')]),
    )
    const gotA = new Promise<Connection>((r) => ta.onConnection(r))
    const gotB = new Promise<Connection>((r) => tb.onConnection(r))
    await ta.join(topic)
    await tb.join(topic)
    const [a, b] = await Promise.all([gotA, gotB])
    assert.equal(a.remoteId, tb.nodeId)
    assert.equal(b.remoteId, ta.nodeId)
    assert.notEqual(a.initiator, b.initiator)
    const got = new Promise<Uint8Array>((r) => b.onFrame(r))
    await a.send(Uint8Array.of(42))
    assert.deepEqual(await got, Uint8Array.of(42))
    // b joined second: its lookup found a announcing the topic, reported once.
    assert.deepEqual(foundByB, [[ta.nodeId, Buffer.from(topic).toString('hex')]])
    await ta.leave(topic)
  })

  test('frames built in the stream message memory (allocFrame) arrive intact, and are encrypted in place', {
    timeout: 60_000,
  }, async () => {
    const ta = await transport()
    const tb = await transport()
    ta.onConnection(() => {})
    const [a, b] = await connect(ta, tb)
    assert.ok(a.allocFrame, 'a hyperswarm connection offers allocFrame')
    const sent: Uint8Array[] = []
    const got: Uint8Array[] = []
    const all = new Promise<void>((resolve) =>
      b.onFrame((f) => {
        got.push(Uint8Array.from(f))
        if (got.length === 200) resolve()
      }),
    )
    const built: [Uint8Array, number][] = []
    for (let i = 0; i < 200; i++) {
      // Chunk-sized frames, a small one (allocFrame's pool fallback) and a plain frame now and then,
      // each send awaited as the chunk server does.
      const size = i % 10 === 3 ? 100 : 8192 + ((i * 7919) % 120_000)
      const bytes = randomBytes(size)
      sent.push(bytes)
      if (i % 10 === 7) {
        await a.send(Uint8Array.from(bytes))
        continue
      }
      const frame: Uint8Array = a.allocFrame!(size)
      assert.equal(frame.length, size)
      frame.set(bytes)
      await a.send(frame)
      built.push([frame, i])
    }
    await all
    assert.equal(got.length, sent.length)
    for (let i = 0; i < sent.length; i++)
      assert.ok(Buffer.from(got[i]!).equals(sent[i]!), `frame ${i} differs`)
    // Encrypted in place, a frame's memory holds ciphertext now; copied by the stream, our bytes.
    const inPlace = built.filter(([f, i]) => f.length >= 8192 && !Buffer.from(f).equals(sent[i]!)).length
    process.stdout.write(`${inPlace} of 160 large allocFrame frames encrypted in place\n`)
    assert.ok(inPlace >= 80, `only ${inPlace} of 160 frames were encrypted in place`)
    a.close('done')
  })

  test('a restarted peer (same seed, new sockets) is reached again by key', async () => {
    const seed = randomBytes(32)
    const ta = await transport()
    ta.onConnection(() => {})
    const tb = await transport(seed)
    const [a] = await connect(ta, tb)
    const gone = new Promise((r) => a.onClose(r))
    await tb.close()
    await gone
    const tb2 = await transport(seed)
    const [a2, b2] = await connect(ta, tb2)
    assert.equal(a2.remoteId, tb2.nodeId)
    assert.equal(b2.remoteId, ta.nodeId)
    const got = new Promise<Uint8Array>((r) => b2.onFrame(r))
    await a2.send(Uint8Array.of(7))
    assert.deepEqual(await got, Uint8Array.of(7))
  })

  test('a dial to a node that is not there times out; one already connected is refused', async () => {
    const ta = await openHyperswarmTransport({
      seed: randomBytes(32),
      timers: systemRuntime().timers,
      network: 'loopback',
      bootstrap: testnet.bootstrap,
      timeoutMs: 1500,
    })
    opened.push(ta)
    await assert.rejects(ta.dial({ node: publicKeyHex(randomBytes(32)), addrs: [] }), /timed out/)
    const tb = await transport()
    ta.onConnection(() => {})
    const [a] = await connect(ta, tb)
    await assert.rejects(ta.dial({ node: tb.nodeId, addrs: [] }), /already connected/)
    a.close('done')
  })
})
