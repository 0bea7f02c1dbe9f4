/**
 * Bulk transfer between two real `bt up` processes on loopback, per
 * transport (iroh alone, Hyperswarm alone): node a stores a file of --mib
 * MiB (`bt put`, timed separately), node b (a writer: it fetches every chunk)
 * has joined the tree beforehand; the clock runs from a's acknowledged put
 * until b holds every chunk. Goal (issue 5): 80% of the raw figure.
 *
 * Baseline in the same run: a bare Hyperswarm socket and a bare iroh stream,
 * the receiver in a child process (bench/sync-raw.ts), --raw-mib MiB.
 *
 * Beside wall throughput it prints the CPU seconds per GiB of each side
 * (ours: the two `bt up` processes, read from /proc over the transfer;
 * raw: the sending and the receiving process). On a shared, loaded machine
 * CPU per byte says more than wall time.
 *
 * Environment: BT_BENCH_TRANSPORTS=hyperswarm|iroh runs one transport only;
 * BT_BENCH_PROF=DIR CPU-profiles the two `bt up` processes over the transfer
 * (bench/cpu-prof-hook.ts), into DIR/<pid>-0.cpuprofile (the pids are printed).
 *
 * Usage: node dist/bench/sync-transfer.js [--quick] [--mib N] [--raw-mib N]
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openApi } from '../node/daemon/open-api.js'
import { writePseudoRandomFile } from '../test/e2e/files.js'
import { type BtNode, Cluster, type TransportChoice } from '../test/e2e/harness.js'
import { joinAs } from '../test/e2e/sync-cli.js'
import { benchArgs } from './args.js'
import { benchTeardown, MIB, since } from './sync-common.js'
import { rawThroughput } from './sync-raw.js'

const opts = benchArgs(
  'sync-transfer',
  'A file from node a to node b over iroh and Hyperswarm vs raw sockets.',
  {
    mib: { full: [1024], quick: [8], help: 'file size, MiB' },
    'raw-mib': { full: [256], quick: [8], help: 'bytes pushed through each bare socket, MiB' },
  },
)
const SIZE = opts.mib[0]! * MIB
const RAW = opts['raw-mib'][0]! * MIB
const GIB = 1024 * MIB
const KINDS = (['hyperswarm', 'iroh'] as const).filter(
  (k) => !process.env.BT_BENCH_TRANSPORTS || process.env.BT_BENCH_TRANSPORTS.split(',').includes(k),
)
const PROF = process.env.BT_BENCH_PROF

interface Df {
  trees: { name: string; chunks: number; storedBytes: number }[]
}

/** CPU seconds (user + system) process `pid` has used so far (Linux /proc). */
function cpuOf(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

interface Ours {
  mibs: number
  cpuA: number
  cpuB: number
}

async function run(transport: 'iroh' | 'hyperswarm'): Promise<Ours> {
  const td = benchTeardown()
  try {
    const c = await Cluster.start(td.t, { transport: transport as TransportChoice })
    if (PROF) {
      const hook = fileURLToPath(new URL('./cpu-prof-hook.js', import.meta.url))
      process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${hook}`
      process.env.BT_CPU_PROF_DIR = PROF
    }
    const [a, b] = (await c.addUp('a', 'b')) as [BtNode, BtNode]
    if (PROF) {
      delete process.env.NODE_OPTIONS
      process.stdout.write(
        `${transport}: profiling bt up a (pid ${a.pid}) and b (pid ${b.pid}) into ${PROF}\n`,
      )
    }
    await a.ok(['tree', 'create', 'xfer'])
    await joinAs(a, b, 'xfer', 'writer')
    const src = join(c.dir, 'big.bin')
    await writePseudoRandomFile(src, SIZE, 11)
    let t0 = performance.now()
    await a.ok(['put', src, 'xfer:/big.bin'], { timeoutMs: 3_600_000 })
    const ingest = since(t0)
    t0 = performance.now()
    const cpuA0 = cpuOf(a.pid)
    const cpuB0 = cpuOf(b.pid)
    const toggleProfiles = () => {
      if (PROF) for (const n of [a, b]) process.kill(n.pid!, 'SIGUSR2')
    }
    toggleProfiles()
    const profilesWritten = async () => {
      if (!PROF) return
      const files = [a, b].map((n) => join(PROF, `${n.pid}-0.cpuprofile`))
      for (let i = 0; i < 600 && !files.every((f) => existsSync(f)); i++)
        await new Promise((r) => setTimeout(r, 250))
    }
    const df = await a.json<Df>(['df'])
    const total = df.trees.find((x) => x.name === 'xfer')!.chunks
    const stored = df.trees.find((x) => x.name === 'xfer')!.storedBytes
    // Polled through b's local API in this process: a `bt status` process per poll would
    // take CPU from the two nodes being measured, as would polling often.
    const api = await openApi({ home: b.home })
    let s: { bytesIn: number; chunksReceived: number; chunksWanted: number } | undefined
    try {
      for (;;) {
        s = (await api.syncStatus()).trees.find((x) => x.name === 'xfer')
        if (s && s.chunksReceived >= total && s.chunksWanted === 0) break
        if (since(t0) > 3600)
          throw new Error(`b did not get every chunk within an hour: ${JSON.stringify(s)}`)
        // Seldom until the end is near (each answer costs b CPU), then often (a precise clock).
        const left = total - (s?.chunksReceived ?? 0)
        await new Promise((r) => setTimeout(r, left > total / 20 ? 1000 : 50))
      }
    } finally {
      await api.close()
    }
    const secs = since(t0)
    toggleProfiles()
    const cpuA = cpuOf(a.pid) - cpuA0
    const cpuB = cpuOf(b.pid) - cpuB0
    const mibs = SIZE / MIB / secs
    await profilesWritten()
    process.stdout.write(
      `${transport}: blocktree ${SIZE / MIB} MiB a -> b: ${secs.toFixed(2)} s, ${mibs.toFixed(1)} MiB/s ` +
        `(${total} chunks, ${(stored / MIB).toFixed(1)} MiB stored, b received ${(s.bytesIn / MIB).toFixed(1)} MiB); ` +
        `ingest on a (bt put): ${ingest.toFixed(2)} s\n` +
        `${transport}: blocktree CPU per GiB: sender a ${((cpuA * GIB) / SIZE).toFixed(1)} s, ` +
        `receiver b ${((cpuB * GIB) / SIZE).toFixed(1)} s\n`,
    )
    return { mibs, cpuA: (cpuA * GIB) / SIZE, cpuB: (cpuB * GIB) / SIZE }
  } finally {
    await td.run()
  }
}

const raw = await rawThroughput(RAW, KINDS)
for (const k of KINDS) {
  const r = raw[k]!
  process.stdout.write(
    `baseline raw ${k}: ${(RAW / MIB).toFixed(0)} MiB in ${r.mibs.toFixed(1)} MiB/s; CPU per GiB: ` +
      `sender ${((r.cpuSend * GIB) / RAW).toFixed(1)} s, receiver ${((r.cpuRecv * GIB) / RAW).toFixed(1)} s\n`,
  )
}
for (const k of KINDS) {
  const ours = await run(k)
  const r = raw[k]!
  const perGiB = (cpu: number) => (cpu * GIB) / RAW
  process.stdout.write(
    `${k}: blocktree / raw = ${((100 * ours.mibs) / r.mibs).toFixed(0)}% (goal 80%); CPU per GiB ours / raw: ` +
      `sender ${(ours.cpuA / perGiB(r.cpuSend)).toFixed(1)}x, receiver ${(ours.cpuB / perGiB(r.cpuRecv)).toFixed(1)}x\n`,
  )
}
