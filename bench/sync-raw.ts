/**
 * Raw loopback throughput of the two transports' bare libraries, the
 * baseline of bench/sync-transfer.ts: a bare Hyperswarm socket (Noise over
 * UDX, found through a local hyperdht testnet) and a bare iroh bi-stream
 * (presetMinimal, 127.0.0.1), each with the receiver in a separate process
 * as in the Blocktree run. No framing, no protocol, no storage.
 *
 * Usage as a module: `rawThroughput(bytes)` -> MiB/s and CPU seconds of each
 * side per transport (CPU per byte is what a loaded machine distorts least).
 * The child side: `node dist/bench/sync-raw.js --serve iroh|hyperswarm BYTES [BOOTSTRAP_JSON]`.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import iroh from '@number0/iroh'
import { startTestnet } from '../test/e2e/harness.js'
import { MIB } from './sync-common.js'

const require = createRequire(import.meta.url)
const PIECE = 64 * 1024
/**
 * The bare iroh receiver reads 12 KiB per call: the cheapest piece size for
 * the binding here (its arrays past ~16 K elements cost more per byte), as
 * the transport does. The sender writes one prebuilt 64 KiB array over and
 * over: no conversion at all, the best case of the binding.
 */
const IROH_READ = 12 * 1024
const ALPN = Array.from(Buffer.from('bt-raw/1'))
const TOPIC = createHash('sha256').update('blocktree raw bench').digest()

interface Sock {
  write(b: Uint8Array): boolean
  on(ev: string, f: (...a: unknown[]) => void): void
  once(ev: string, f: (...a: unknown[]) => void): void
  end(): void
  destroy(): void
}
interface Swarm {
  on(ev: 'connection', f: (s: Sock) => void): void
  join(topic: Uint8Array, o: { server: boolean; client: boolean }): { flushed(): Promise<void> }
  destroy(): Promise<void>
}
type SwarmCtor = new (o: { dht: unknown }) => Swarm
type DhtCtor = new (o: { bootstrap: { host: string; port: number }[]; host: string }) => unknown

function swarm(bootstrap: { host: string; port: number }[]): Swarm {
  const Hyperswarm = require('hyperswarm') as SwarmCtor
  const DHT = require('hyperdht') as DhtCtor
  return new Hyperswarm({ dht: new DHT({ bootstrap, host: '127.0.0.1' }) })
}

/** One transport's raw figures: throughput and the CPU seconds each side spent moving the bytes. */
export interface RawRate {
  mibs: number
  cpuSend: number
  cpuRecv: number
}

/** CPU seconds (user + system) this process used since `from` (a process.cpuUsage() value). */
export function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / 1e6
}

/** Child: receive `bytes` bytes, print READY with how to reach it first, DONE (bytes, CPU s) at the end. */
async function serve(
  kind: string,
  bytes: number,
  bootstrap: { host: string; port: number }[],
): Promise<void> {
  const say = (l: string) => process.stdout.write(`${l}\n`)
  let cpu0: NodeJS.CpuUsage | undefined
  if (kind === 'hyperswarm') {
    const sw = swarm(bootstrap)
    sw.on('connection', (s) => {
      let n = 0
      s.on('error', () => {})
      s.on('data', (d) => {
        cpu0 ??= process.cpuUsage()
        n += (d as Uint8Array).length
        if (n >= bytes) {
          say(`DONE ${n} ${cpuSince(cpu0)}`)
          s.end()
          void sw.destroy().then(() => process.exit(0))
        }
      })
    })
    await sw.join(TOPIC, { server: true, client: false }).flushed()
    say('READY {}')
    return
  }
  const b = iroh.Endpoint.builder()
  iroh.presetMinimal(b)
  b.alpns([ALPN])
  b.bindAddr('127.0.0.1:0')
  const ep = await b.bind()
  say(`READY ${JSON.stringify({ id: ep.id().toString(), addrs: ep.addr().directAddresses() })}`)
  const inc = await ep.acceptNext()
  if (!inc) throw new Error('no connection')
  const conn = await (await inc.accept()).connect()
  const bi = await conn.acceptBi()
  let n = 0
  while (n < bytes) {
    const piece = await bi.recv.read(IROH_READ)
    cpu0 ??= process.cpuUsage()
    if (piece.length === 0) break
    n += piece.length
  }
  say(`DONE ${n} ${cpuSince(cpu0 ?? process.cpuUsage())}`)
  await bi.send.writeAll([1])
  await bi.send.finish()
  await conn.closed().catch(() => {})
  await ep.close()
  process.exit(0)
}

/** Start the receiving child; resolves to its READY payload and a promise of DONE. */
function child(
  kind: string,
  bytes: number,
  bootstrap: unknown[],
): Promise<{ ready: Record<string, unknown>; done: Promise<{ bytes: number; cpu: number }> }> {
  const p = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--serve', kind, String(bytes), JSON.stringify(bootstrap)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let buf = ''
  let ready: (v: Record<string, unknown>) => void
  let done: (v: { bytes: number; cpu: number }) => void
  const readyP = new Promise<Record<string, unknown>>((r) => (ready = r))
  const doneP = new Promise<{ bytes: number; cpu: number }>((r, j) => {
    done = r
    p.on('close', (code) => j(new Error(`raw ${kind} receiver exited ${code} early`)))
  })
  p.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line.startsWith('READY ')) ready(JSON.parse(line.slice(6)) as Record<string, unknown>)
      if (line.startsWith('DONE ')) {
        const [n, cpu] = line.slice(5).split(' ').map(Number)
        done({ bytes: n!, cpu: cpu! })
      }
    }
  })
  return readyP.then((r) => ({ ready: r, done: doneP }))
}

async function hyperswarmRate(bytes: number): Promise<RawRate> {
  const net = await startTestnet()
  try {
    const { done } = await child('hyperswarm', bytes, net.bootstrap)
    const sw = swarm(net.bootstrap)
    try {
      const sock = await new Promise<Sock>((resolve) => {
        sw.on('connection', resolve)
        sw.join(TOPIC, { server: false, client: true })
      })
      sock.on('error', () => {})
      const piece = Buffer.alloc(PIECE, 7)
      const t0 = performance.now()
      const cpu0 = process.cpuUsage()
      for (let n = 0; n < bytes; n += PIECE) {
        if (!sock.write(piece)) await new Promise((r) => sock.once('drain', r as () => void))
      }
      const recv = await done
      const cpuSend = cpuSince(cpu0)
      return { mibs: bytes / MIB / ((performance.now() - t0) / 1000), cpuSend, cpuRecv: recv.cpu }
    } finally {
      await sw.destroy()
    }
  } finally {
    await net.destroy()
  }
}

async function irohRate(bytes: number): Promise<RawRate> {
  const { ready, done } = await child('iroh', bytes, [])
  const b = iroh.Endpoint.builder()
  iroh.presetMinimal(b)
  b.bindAddr('127.0.0.1:0')
  const ep = await b.bind()
  try {
    const addr = new iroh.EndpointAddr(
      iroh.EndpointId.fromString(ready.id as string),
      null,
      ready.addrs as string[],
    )
    const conn = await ep.connect(addr, ALPN)
    const bi = await conn.openBi()
    const piece = Array.from(Buffer.alloc(PIECE, 7))
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    for (let n = 0; n < bytes; n += PIECE) await bi.send.writeAll(piece)
    const recv = await done
    const rate = {
      mibs: bytes / MIB / ((performance.now() - t0) / 1000),
      cpuSend: cpuSince(cpu0),
      cpuRecv: recv.cpu,
    }
    await bi.recv.read(1).catch(() => [])
    conn.close(0n, [])
    return rate
  } finally {
    await ep.close()
  }
}

/** MiB/s and CPU of `bytes` pushed through a bare socket of each of `kinds`. */
export async function rawThroughput(
  bytes: number,
  kinds: readonly ('hyperswarm' | 'iroh')[] = ['hyperswarm', 'iroh'],
): Promise<Partial<Record<'hyperswarm' | 'iroh', RawRate>>> {
  const out: Partial<Record<'hyperswarm' | 'iroh', RawRate>> = {}
  for (const k of kinds) out[k] = k === 'hyperswarm' ? await hyperswarmRate(bytes) : await irohRate(bytes)
  return out
}

if (process.argv[2] === '--serve' && process.argv[1] === fileURLToPath(import.meta.url)) {
  await serve(process.argv[3]!, Number(process.argv[4]), JSON.parse(process.argv[5] ?? '[]'))
}
