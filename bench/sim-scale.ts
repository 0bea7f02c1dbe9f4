/**
 * How fast `bt sim` simulates: operations per wall-second for a swarm with
 * partitions and crashes (default 100 nodes x 10,000 operations, sparse
 * topology), beside a baseline measured in the same run: the same number of
 * operations through the same workload on a swarm of one node (no network,
 * no replication), i.e. the cost of the Volume calls alone.
 */
import os from 'node:os'
import { DEFAULTS, type SimOptions } from '../sim/options.js'
import { runSim } from '../sim/run.js'
import { benchArgs } from './args.js'

const a = benchArgs(
  'sim-scale',
  'Simulated operations per wall-second (bt sim), vs the same workload on one node.',
  {
    nodes: { full: [100], quick: [5], help: 'nodes in the swarm' },
    ops: { full: [10_000], quick: [100], help: 'workload operations' },
    degree: { full: [6], quick: [0.5], help: 'peers each node dials (below 1: every other member)' },
    seed: { full: [1], quick: [1], help: 'seed' },
  },
)

const base: SimOptions = {
  ...DEFAULTS,
  seed: a.seed[0]!,
  steps: a.ops[0]!,
  opIntervalMs: 100,
  latency: [5, 100],
  loss: 0.01,
  partitions: 0.002,
  crashes: 0.002,
  spotEvery: 500,
}

// CPU seconds beside wall time: wall is meaningless while other work loads the machine.
const cpuSeconds = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
const timed = async (o: SimOptions) => {
  const c0 = cpuSeconds()
  const r = await runSim(o)
  return { ...r, cpu: cpuSeconds() - c0 }
}
const one = await timed({ ...base, nodes: 1, partitions: 0, crashes: 0 })
const swarm = await timed({ ...base, nodes: a.nodes[0]!, degree: a.degree[0]! < 1 ? 0 : a.degree[0]! })
const rate = (r: typeof one) => Math.round((r.ops.total * 1000) / Math.max(1, r.wallMs))
const row = (label: string, r: typeof one) =>
  `${label.padEnd(34)} ${String(r.ops.total).padStart(7)} ops ${String(rate(r)).padStart(7)} ops/s  wall ${(r.wallMs / 1000).toFixed(1)} s  cpu ${r.cpu.toFixed(1)} s (${String(Math.round(r.ops.total / Math.max(0.001, r.cpu))).padStart(5)} ops/cpu-s)  virtual ${(r.virtualMs / 1000).toFixed(0)} s  events ${r.events}  frames ${r.messages.frames}  heap ${r.heapMB} MiB  violations ${r.violations.length}`
console.log(row(`swarm of ${a.nodes[0]} (partitions, crashes)`, swarm))
console.log(row('baseline: one node, no network', one))
console.log(
  `load average ${os.loadavg()[0]!.toFixed(1)} (2 cores: wall figures are only meaningful near 1 or below)`,
)
console.log(
  `converged ${swarm.converged ? `${((swarm.convergeMs ?? 0) / 1000).toFixed(1)} s (virtual) after the final heal` : 'no'}; trace ${swarm.traceHash.slice(0, 16)}`,
)
if (swarm.violations.length > 0 || one.violations.length > 0) {
  for (const v of [...swarm.violations, ...one.violations].slice(0, 10))
    console.error(`${v.kind}: ${v.detail}`)
  process.exit(1)
}
