/**
 * Local API cost: what going through the daemon's Unix socket adds over
 * calling the node in process.
 *  1. `stat` ops/s: in-process LocalNode vs RemoteApi (one call at a time, and
 *     8 in parallel), beside a raw node:net request/response ping-pong of the
 *     same size on a Unix socket (the floor any socket protocol pays);
 *  2. put/get MB/s of one large file: in process vs through the socket, beside
 *     raw node:net Unix-socket throughput (256 KiB writes into a sink), and the
 *     daemon's peak RSS meanwhile (bounded: it never holds the file).
 * The daemon runs as a separate process (`bt up`), as in real use.
 *
 * Usage: node dist/bench/api-roundtrip.js [--quick] [--stats N] [--size-mib N]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeApi } from '../node/api-types.js'
import { BT_ENTRY, daemonInfo, RemoteApi, stopDaemon } from '../node/daemon/index.js'
import { initNode } from '../node/identity.js'
import { openLocalNode } from '../node/local-node.js'
import { benchArgs } from './args.js'

const MiB = 1024 * 1024
const opts = benchArgs(
  'api-roundtrip',
  'stat ops/s and put/get MB/s through the daemon socket vs in process.',
  {
    stats: { full: [20_000], quick: [300], help: 'stat calls per measurement' },
    'size-mib': { full: [256], quick: [8], help: 'size of the file put and got' },
  },
)
const stats = opts.stats[0]!
const size = opts['size-mib'][0]! * MiB

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The same pseudo-random MiB repeated with a varying head (so chunks do not all dedup). */
const block = randomBytes(MiB)
async function* source(bytes: number): AsyncGenerator<Uint8Array> {
  for (let at = 0, n = 0; at < bytes; at += MiB, n++) {
    const b = Buffer.from(block.subarray(0, Math.min(MiB, bytes - at)))
    b.writeUInt32LE(n, 0)
    yield b
  }
}

async function statLoop(api: NodeApi, n: number, parallel: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  let next = 0
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++
        await api.stat('docs', '/small')
      }
    }),
  )
  return n / secs(t0)
}

async function putGet(api: NodeApi, path: string): Promise<{ put: number; get: number }> {
  let t0 = process.hrtime.bigint()
  await api.writeFile('docs', path, source(size))
  const put = size / MiB / secs(t0)
  t0 = process.hrtime.bigint()
  let got = 0
  for await (const c of api.readFile('docs', path)) got += c.length
  if (got !== size) throw new Error(`read ${got} bytes, wrote ${size}`)
  return { put, get: size / MiB / secs(t0) }
}

/** Raw node:net baselines on a Unix socket: ping-pong round trips/s and one-way MB/s. */
async function rawBaseline(dir: string): Promise<{ rtt: number; mbs: number }> {
  const path = join(dir, 'raw.sock')
  const server = createServer((s) => {
    s.on('data', (d) => {
      // 'p' prefixed messages are pings: answer with the same bytes; anything else is sunk.
      if (d[0] === 0x70) s.write(d)
    })
  })
  await new Promise<void>((r) => server.listen(path, r))
  const c = connect(path)
  await new Promise<void>((r) => c.once('connect', r))
  const ping = Buffer.alloc(120, 0x70)
  let t0 = process.hrtime.bigint()
  for (let i = 0; i < stats; i++) {
    const answered = new Promise<void>((r) => c.once('data', () => r()))
    c.write(ping)
    await answered
  }
  const rtt = stats / secs(t0)
  const chunk = Buffer.alloc(256 * 1024, 1)
  const total = size
  const sunk = new Promise<void>((resolve) => {
    server.once('connection', (s) => {
      let n = 0
      s.on('data', (d) => {
        n += d.length
        if (n >= total) resolve()
      })
    })
  })
  const sink = connect(path)
  await new Promise<void>((r) => sink.once('connect', r))
  t0 = process.hrtime.bigint()
  for (let sent = 0; sent < total; sent += chunk.length)
    if (!sink.write(chunk)) await new Promise((r) => sink.once('drain', r))
  await sunk
  const mbs = total / MiB / secs(t0)
  c.destroy()
  sink.destroy()
  await new Promise((r) => server.close(r))
  return { rtt, mbs }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bt-bench-api-'))
  const home = join(root, 'home')
  let daemonPid: number | undefined
  try {
    await initNode({ home, protection: 'none' })
    const raw = await rawBaseline(root)

    const local = await openLocalNode({ home })
    await local.treeCreate('docs')
    await local.writeFile('docs', '/small', source(4096))
    await statLoop(local, Math.min(stats, 200), 1) // warm up
    const localStat = await statLoop(local, stats, 1)
    const localIo = await putGet(local, '/local.bin')
    await local.close()

    const child = spawn(process.execPath, [BT_ENTRY, '--home', home, 'up', '--quiet'], {
      stdio: 'ignore',
    })
    daemonPid = child.pid
    let info: { socket: string } | undefined
    for (let i = 0; i < 600 && !info; i++) {
      info = await daemonInfo(home)
      if (!info) await sleep(50)
    }
    if (!info) throw new Error('the daemon did not start')
    const remote = await RemoteApi.connect(info.socket)
    await statLoop(remote, Math.min(stats, 200), 8) // warm up, and open the 8 connections
    const remoteStat = await statLoop(remote, stats, 1)
    const remoteStat8 = await statLoop(remote, stats, 8)
    // The daemon's memory while a large file streams through it (it must not hold the file).
    const rss = () => {
      try {
        return (
          Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemonPid}/status`, 'utf8'))?.[1] ?? 0) / 1024
        )
      } catch {
        return 0
      }
    }
    const rssBefore = rss()
    let rssMax = rssBefore
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, rss())
    }, 20)
    const remoteIo = await putGet(remote, '/remote.bin').finally(() => clearInterval(sampler))
    await remote.close()
    await stopDaemon({ home })
    daemonPid = undefined

    const f0 = (n: number) => n.toFixed(0).padStart(8)
    process.stdout.write(
      [
        `stat (${stats} calls)                       ops/s`,
        `  in process (LocalNode)               ${f0(localStat)}`,
        `  through the socket, 1 at a time      ${f0(remoteStat)}`,
        `  through the socket, 8 in parallel    ${f0(remoteStat8)}`,
        `  baseline: raw node:net ping-pong     ${f0(raw.rtt)}`,
        `put/get of ${size / MiB} MiB                          MB/s`,
        `  put in process                       ${f0(localIo.put)}`,
        `  put through the socket               ${f0(remoteIo.put)}`,
        `  get in process                       ${f0(localIo.get)}`,
        `  get through the socket               ${f0(remoteIo.get)}`,
        `  baseline: raw node:net unix socket   ${f0(raw.mbs)}`,
        `daemon RSS: ${rssBefore.toFixed(0)} MiB before, at most ${rssMax.toFixed(0)} MiB while ${size / MiB} MiB went through`,
        '',
      ].join('\n'),
    )
  } finally {
    if (daemonPid) process.kill(daemonPid, 'SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
