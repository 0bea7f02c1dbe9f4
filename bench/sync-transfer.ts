/**
 * Bulk transfer between two real `bt up` processes on loopback, per
 * transport (iroh alone, Hyperswarm alone): node a stores a file of --mib
 * MiB (`bt put`, timed separately), node b (a writer: it fetches every chunk)
 * has joined the tree beforehand; the clock runs from a's acknowledged put
 * until b holds every chunk. Goal (issue 5): 80% of the raw figure.
 *
 * Baseline in the same run: a bare Hyperswarm socket and a bare iroh stream
 * between two endpoints in one process (bench/net-raw.ts's measuring
 * functions), same amount of data.
 *
 * Usage: node dist/bench/sync-transfer.js [--quick] [--mib N] [--raw-mib N]
 */
import { join } from 'node:path'
import { writePseudoRandomFile } from '../test/e2e/files.js'
import { type BtNode, Cluster, poll, type TransportChoice } from '../test/e2e/harness.js'
import { joinAs, syncStatus } from '../test/e2e/sync-cli.js'
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

interface Df {
  trees: { name: string; chunks: number; storedBytes: number }[]
}

async function run(transport: 'iroh' | 'hyperswarm'): Promise<number> {
  const td = benchTeardown()
  try {
    const c = await Cluster.start(td.t, { transport: transport as TransportChoice })
    const [a, b] = (await c.addUp('a', 'b')) as [BtNode, BtNode]
    await a.ok(['tree', 'create', 'xfer'])
    await joinAs(a, b, 'xfer', 'writer')
    const src = join(c.dir, 'big.bin')
    await writePseudoRandomFile(src, SIZE, 11)
    let t0 = performance.now()
    await a.ok(['put', src, 'xfer:/big.bin'], { timeoutMs: 3_600_000 })
    const ingest = since(t0)
    t0 = performance.now()
    const df = await a.json<Df>(['df'])
    const total = df.trees.find((x) => x.name === 'xfer')!.chunks
    const stored = df.trees.find((x) => x.name === 'xfer')!.storedBytes
    const s = await poll(
      'b to hold every chunk',
      async () => {
        const st = await syncStatus(b, 'xfer')
        return st.chunksReceived >= total && st.chunksWanted === 0 ? st : undefined
      },
      { timeoutMs: 3_600_000, intervalMs: 200 },
    )
    const secs = since(t0)
    const mibs = SIZE / MIB / secs
    process.stdout.write(
      `${transport}: blocktree ${SIZE / MIB} MiB a -> b: ${secs.toFixed(2)} s, ${mibs.toFixed(1)} MiB/s ` +
        `(${total} chunks, ${(stored / MIB).toFixed(1)} MiB stored, b received ${(s.bytesIn / MIB).toFixed(1)} MiB); ` +
        `ingest on a (bt put): ${ingest.toFixed(2)} s\n`,
    )
    return mibs
  } finally {
    await td.run()
  }
}

const raw = await rawThroughput(RAW)
for (const k of ['hyperswarm', 'iroh'] as const)
  process.stdout.write(`baseline raw ${k}: ${(RAW / MIB).toFixed(0)} MiB in ${raw[k].toFixed(1)} MiB/s\n`)
for (const k of ['hyperswarm', 'iroh'] as const) {
  const ours = await run(k)
  process.stdout.write(`${k}: blocktree / raw = ${((100 * ours) / raw[k]).toFixed(0)}% (goal 80%)\n`)
}
