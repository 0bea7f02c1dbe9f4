/**
 * Transport overhead on loopback, sender and receiver in this one process:
 * for Hyperswarm and iroh, a bare library stream (no framing) beside our
 * framed `Connection` over the same library (framing, credit window,
 * awaited sends of 256 KiB frames), plus the in-memory pair for scale. The
 * engine's transfer figures (bench/sync-transfer.ts) compare against these.
 *
 *   node dist/bench/net-raw.js [--quick] [--hs MIB] [--iroh MIB] [--memory MIB]
 */
import { randomBytes } from 'node:crypto'
import iroh from '@number0/iroh/index.js'
import DHT, { type NoiseSocket } from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import Hyperswarm from 'hyperswarm'
import { systemRuntime } from '../sync/runtime.js'
import { openHyperswarmTransport } from '../sync/transport/hyperswarm.js'
import { openIrohTransport } from '../sync/transport/iroh.js'
import { memoryPair } from '../sync/transport/memory.js'
import type { Connection, Transport } from '../sync/transport/types.js'
import { benchArgs } from './args.js'

process.env.BT_NETWORK = 'loopback'
const MIB = 1024 * 1024
const FRAME = 256 * 1024

const args = benchArgs(
  'net-raw',
  'Raw loopback throughput: bare Hyperswarm / iroh streams vs our framed Connection.',
  {
    hs: { full: [256], quick: [4], help: 'MiB sent over Hyperswarm' },
    iroh: { full: [32], quick: [2], help: 'MiB sent over iroh' },
    memory: { full: [1024], quick: [16], help: 'MiB sent over the in-memory pair' },
  },
)

const mibps = (bytes: number, ms: number) => bytes / MIB / (ms / 1000)
const fmt = (x: number) => x.toFixed(1)

/** Send `total` bytes in FRAME-sized awaited sends; resolve with MiB/s once all arrived. */
async function framed(a: Connection, b: Connection, total: number): Promise<number> {
  let got = 0
  let done!: () => void
  const arrived = new Promise<void>((r) => (done = r))
  b.onFrame((f) => {
    got += f.length
    if (got >= total) done()
  })
  const frame = new Uint8Array(randomBytes(FRAME))
  const t0 = performance.now()
  for (let sent = 0; sent < total; sent += FRAME) await a.send(frame)
  await arrived
  return mibps(total, performance.now() - t0)
}

async function hyperswarmFigures(total: number): Promise<[number, number]> {
  const tn = await createTestnet(3, { host: '127.0.0.1' })
  const bootstrap = tn.bootstrap.map((b) => `${b.host}:${b.port}`)
  try {
    // Bare: two swarms, one direct connection, 64 KiB writes honouring 'drain'.
    const mk = () =>
      new Hyperswarm({
        keyPair: DHT.keyPair(randomBytes(32)),
        dht: new DHT({ bootstrap: tn.bootstrap, host: '127.0.0.1', firewalled: false } as never),
      })
    const s1 = mk()
    const s2 = mk()
    await s1.listen()
    await s2.listen()
    const sock = (s: Hyperswarm) =>
      new Promise<NoiseSocket>((r) =>
        s.on('connection', (c) => {
          c.on('error', () => {})
          r(c)
        }),
      )
    const p1 = sock(s1)
    const p2 = sock(s2)
    s1.joinPeer(s2.keyPair.publicKey)
    const [c1, c2] = await Promise.all([p1, p2])
    let got = 0
    let done!: () => void
    const arrived = new Promise<void>((r) => (done = r))
    c2.on('data', (d: Buffer) => {
      got += d.length
      if (got >= total) done()
    })
    const buf = randomBytes(64 * 1024)
    const t0 = performance.now()
    for (let sent = 0; sent < total; sent += buf.length)
      if (!c1.write(buf)) await new Promise((r) => c1.once('drain', r))
    await arrived
    const bare = mibps(total, performance.now() - t0)
    await s1.destroy()
    await s2.destroy()

    const open = () =>
      openHyperswarmTransport({
        seed: randomBytes(32),
        timers: systemRuntime().timers,
        network: 'loopback',
        bootstrap,
      })
    const ours = await pairOver(await open(), await open(), total)
    return [bare, ours]
  } finally {
    await tn.destroy()
  }
}

async function irohFigures(total: number): Promise<[number, number]> {
  const { Endpoint, EndpointAddr, presetMinimal } = iroh
  const alpn = Array.from(Buffer.from('bt-bench/1'))
  const ep = async () => {
    const b = Endpoint.builder()
    presetMinimal(b)
    b.alpns([alpn])
    b.bindAddr('127.0.0.1:0')
    return b.bind()
  }
  const e1 = await ep()
  const e2 = await ep()
  // Bare: one bi stream; bytes cross the binding as Array<number> both ways (converted per piece).
  const recv = (async () => {
    const inc = await e2.acceptNext()
    const c = await (await inc!.accept()).connect()
    const bi = await c.acceptBi()
    let got = 0
    for (;;) {
      const r = await bi.recv.read(64 * 1024)
      if (r.length === 0) break
      got += Uint8Array.from(r).length
    }
    return got
  })()
  const c = await e1.connect(new EndpointAddr(e2.id(), null, e2.addr().directAddresses()), alpn)
  const bi = await c.openBi()
  const piece = new Uint8Array(randomBytes(12 * 1024))
  const t0 = performance.now()
  for (let sent = 0; sent < total; sent += piece.length) {
    const arr = new Array<number>(piece.length)
    for (let i = 0; i < piece.length; i++) arr[i] = piece[i]!
    await bi.send.writeAll(arr)
  }
  await bi.send.finish()
  const got = await recv
  const bare = mibps(got, performance.now() - t0)
  c.close(0n, [])
  await e1.close()
  await e2.close()

  const open = () =>
    openIrohTransport({ seed: randomBytes(32), timers: systemRuntime().timers, network: 'loopback' })
  return [bare, await pairOver(await open(), await open(), total)]
}

/** Our framed Connection between two fresh transports; closes them after. */
async function pairOver(ta: Transport, tb: Transport, total: number): Promise<number> {
  try {
    ta.onConnection(() => {})
    const inbound = new Promise<Connection>((r) => tb.onConnection(r))
    const a = await ta.dial({ node: tb.nodeId, addrs: tb.addresses() })
    const b = await inbound
    return await framed(a, b, total)
  } finally {
    await ta.close()
    await tb.close()
  }
}

const hsTotal = args.hs[0]! * MIB
const irohTotal = args.iroh[0]! * MIB
const memTotal = args.memory[0]! * MIB

const [a, b] = memoryPair('a'.repeat(64), 'b'.repeat(64))
const mem = await framed(a, b, memTotal)
a.close()
console.log(`memory: framed Connection ${fmt(mem)} MiB/s (${args.memory[0]} MiB, 256 KiB frames)`)

const [hsBare, hsOurs] = await hyperswarmFigures(hsTotal)
console.log(
  `hyperswarm: bare socket ${fmt(hsBare)} MiB/s, our framed Connection ${fmt(hsOurs)} MiB/s (${Math.round((100 * hsOurs) / hsBare)}% of bare; ${args.hs[0]} MiB)`,
)
const [irBare, irOurs] = await irohFigures(irohTotal)
console.log(
  `iroh: bare bi-stream ${fmt(irBare)} MiB/s, our framed Connection ${fmt(irOurs)} MiB/s (${Math.round((100 * irOurs) / irBare)}% of bare; ${args.iroh[0]} MiB)`,
)
console.log('(sender and receiver share this process and its cores)')
