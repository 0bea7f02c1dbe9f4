/**
 * Time for a one-line edit on one node to be readable on another: two real
 * `bt up` processes on loopback sharing a tree, per transport (iroh alone,
 * Hyperswarm alone). Node a rewrites a small file N times through its local
 * API; the clock runs from just before a's write call until b's local API
 * returns the new content (polled every millisecond). p50/p90/p99/max.
 *
 * Baselines in the same run: a's own write (local durable commit, acknowledged
 * by a's API) and the connection's ping RTT as `bt peers` reports it.
 *
 * Usage: node dist/bench/sync-latency.js [--quick] [--edits N]
 */
import type { NodeApi } from '../node/api-types.js'
import { openApi } from '../node/daemon/open-api.js'
import { type BtNode, Cluster, converged, type TransportChoice } from '../test/e2e/harness.js'
import { joinAs, peersOf } from '../test/e2e/sync-cli.js'
import { benchArgs } from './args.js'
import { benchTeardown, percentiles } from './sync-common.js'

const opts = benchArgs('sync-latency', 'One-line edit on node a until readable on node b (p50/p99).', {
  edits: { full: [100], quick: [5], help: 'edits to time per transport' },
})
const EDITS = opts.edits[0]!

async function* once(s: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(s)
}

async function read(api: NodeApi, path: string): Promise<string | undefined> {
  try {
    const parts: Buffer[] = []
    for await (const c of api.readFile('lat', path)) parts.push(Buffer.from(c))
    return Buffer.concat(parts).toString()
  } catch {
    return undefined
  }
}

async function run(transport: TransportChoice): Promise<void> {
  const td = benchTeardown()
  try {
    const c = await Cluster.start(td.t, { transport })
    const [a, b] = (await c.addUp('a', 'b')) as [BtNode, BtNode]
    await a.ok(['tree', 'create', 'lat'])
    await a.ok(['put', '-', 'lat:/edit.txt'], { input: 'line 0\n' })
    await joinAs(a, b, 'lat', 'writer')
    await converged([a, b], 'lat', (s) => '/edit.txt' in s)
    const apiA = await openApi({ home: a.home })
    const apiB = await openApi({ home: b.home })
    const seen: number[] = []
    const local: number[] = []
    try {
      for (let i = 1; i <= EDITS; i++) {
        const text = `line ${i} ${'x'.repeat(i % 7)}\n`
        const t0 = performance.now()
        const wrote = apiA.writeFile('lat', '/edit.txt', once(text)).then(() => performance.now() - t0)
        while ((await read(apiB, '/edit.txt')) !== text) {
          if (performance.now() - t0 > 60_000) throw new Error(`edit ${i} did not reach b within 60 s`)
          await new Promise((r) => setTimeout(r, 1))
        }
        seen.push(performance.now() - t0)
        local.push(await wrote)
      }
    } finally {
      await apiA.close()
      await apiB.close()
    }
    const rtt = (await peersOf(a)).find((p) => p.node === b.nodeId)?.rttMs
    const s = percentiles(seen)
    const l = percentiles(local)
    process.stdout.write(
      `${transport}: edit visible on b over ${EDITS} edits: p50 ${s.p50.toFixed(1)} ms, p90 ${s.p90.toFixed(1)} ms, ` +
        `p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms\n` +
        `${transport}: baseline local write on a (durable commit): p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms; ` +
        `ping rtt ${rtt === undefined ? 'n/a' : `${rtt.toFixed(2)} ms`}\n`,
    )
  } finally {
    await td.run()
  }
}

// --quick (the smoke test) runs one transport: the path is the same, the e2e tests cover both.
const transports: TransportChoice[] = opts.quick ? ['iroh'] : ['iroh', 'hyperswarm']
for (const transport of transports) await run(transport)
