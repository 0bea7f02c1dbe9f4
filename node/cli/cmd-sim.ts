/**
 * `bt sim`: run a swarm of simulated nodes in this process on virtual time
 * (sim/, docs/SIM.md). Prints a summary (or `--json`), writes an HTML report
 * with `--report`, exits 1 on any violation after printing the seed, the
 * command that reproduces it and the smallest failing case shrinking found.
 */
import { writeFileSync } from 'node:fs'
import { DEFAULTS, parseLatency, reproduceCommand, type SimOptions, validate } from '../../sim/options.js'
import { renderReport } from '../../sim/report.js'
import { runSim, type SimResult } from '../../sim/run.js'
import { shrink } from '../../sim/shrink.js'
import { parseMix } from '../../sim/workload.js'
import { type FlagSpec, UsageError } from './args.js'
import type { Command } from './commands.js'
import type { Ctx } from './context.js'

const FLAGS: FlagSpec[] = [
  { name: 'nodes', short: 'n', value: 'N', help: `nodes in the swarm (default ${DEFAULTS.nodes})` },
  { name: 'seed', short: 's', value: 'S', help: `seed of every random choice (default ${DEFAULTS.seed})` },
  { name: 'steps', value: 'K', help: `workload operations (default ${DEFAULTS.steps})` },
  { name: 'latency', value: 'MIN-MAXms', help: 'one-way link latency range (default 5-200ms)' },
  { name: 'loss', value: 'P', help: 'probability a datagram is lost (default 0)' },
  { name: 'dup', value: 'P', help: 'probability a datagram is duplicated (default 0)' },
  { name: 'reorder', value: 'P', help: 'probability a datagram is held back and overtaken (default 0)' },
  { name: 'bandwidth', value: 'BYTES/S', help: 'link bandwidth (default 12500000)' },
  { name: 'partitions', value: 'RATE', help: 'probability per step that a partition starts (default 0)' },
  { name: 'crashes', value: 'RATE', help: 'probability per step that a random node crashes (default 0)' },
  {
    name: 'workload',
    value: 'MIX',
    help: 'operation weights, e.g. create=30,write=30,rename=10,delete=10,burst=5',
  },
  { name: 'readers', value: 'N', help: 'the last N nodes are readers (default 0)' },
  { name: 'late', value: 'N', help: 'N nodes join late through an invitation (default 0)' },
  {
    name: 'leave',
    value: 'N',
    help: 'N writers leave for good in the second half: hand-off, then the admin removes them (default 0)',
  },
  { name: 'degree', value: 'D', help: 'peers each node dials (default 0: every other member)' },
  {
    name: 'interval',
    value: 'MS',
    help: `mean virtual ms between operations (default ${DEFAULTS.opIntervalMs})`,
  },
  { name: 'anti-entropy', value: 'MS', help: `anti-entropy period (default ${DEFAULTS.antiEntropyMs})` },
  {
    name: 'settle',
    value: 'MS',
    help: `virtual ms to wait for convergence after the final heal (default ${DEFAULTS.settleMs})`,
  },
  {
    name: 'spot-every',
    value: 'K',
    help: `walk one random node's tree every K steps for duplicates and cycles (default ${DEFAULTS.spotEvery}; 0: never)`,
  },
  {
    name: 'inject',
    value: 'BUG',
    help: 'break node 1 on purpose: stale-view or keep-removed (tests that violations are caught)',
  },
  { name: 'report', value: 'FILE', help: 'write a self-contained HTML report (timeline, message volume)' },
  { name: 'no-shrink', help: 'on a violation, do not search for a smaller failing case' },
]

export const SIM_COMMAND: Command = {
  name: 'sim',
  group: 'sim',
  summary: 'simulate a swarm in memory on virtual time, deterministically; check invariants',
  usage:
    'sim [--nodes N] [--seed S] [--steps K] [--latency 5-200ms] [--loss P] [--partitions RATE] [--crashes RATE] [--workload MIX] [--report FILE.html]',
  args: [],
  flags: FLAGS,
  description:
    'Runs N nodes with the real node code (volumes, sync engine, membership) over a simulated network\n' +
    '(latency, jitter, loss, duplication, reordering, partitions) with crashes, late joins, leaves and offline\n' +
    'bursts, then heals everything and checks that every replica converged to the same tree and bytes\n' +
    'and that no acknowledged write was lost (docs/SIM.md). Same seed and options: the same trace hash.\n' +
    'Exit 1 on a violation, with the seed and the shortest command that reproduces it.',
  examples: [
    'bt sim --nodes 5 --seed 7 --steps 200',
    'bt sim --nodes 20 --steps 2000 --loss 0.05 --partitions 0.01 --crashes 0.01 --json',
    'bt sim --nodes 5 --workload create=30,write=30,rename=10,move=10,delete=10,burst=10 --report sim.html',
  ],
  run: runSimCommand,
}

function num(ctx: Ctx, name: string, fallback: number): number {
  const v = ctx.value(name)
  if (v === undefined) return fallback
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} needs a number, got '${v}'`, 'sim')
  return n
}

/** Options from the command line (usage errors exit 2). */
export function simOptions(ctx: Ctx): SimOptions {
  try {
    const latency = ctx.value('latency')
    const mix = ctx.value('workload')
    const inject = ctx.value('inject') ?? 'none'
    if (inject !== 'none' && inject !== 'stale-view' && inject !== 'keep-removed')
      throw new RangeError(`unknown --inject '${inject}' (known: stale-view, keep-removed)`)
    return validate({
      ...DEFAULTS,
      nodes: num(ctx, 'nodes', DEFAULTS.nodes),
      seed: num(ctx, 'seed', DEFAULTS.seed),
      steps: num(ctx, 'steps', DEFAULTS.steps),
      latency: latency === undefined ? DEFAULTS.latency : parseLatency(latency),
      loss: num(ctx, 'loss', DEFAULTS.loss),
      dup: num(ctx, 'dup', DEFAULTS.dup),
      reorder: num(ctx, 'reorder', DEFAULTS.reorder),
      bandwidth: num(ctx, 'bandwidth', DEFAULTS.bandwidth),
      partitions: num(ctx, 'partitions', DEFAULTS.partitions),
      crashes: num(ctx, 'crashes', DEFAULTS.crashes),
      workload: mix === undefined ? DEFAULTS.workload : parseMix(mix),
      readers: num(ctx, 'readers', DEFAULTS.readers),
      late: num(ctx, 'late', DEFAULTS.late),
      leaves: num(ctx, 'leave', DEFAULTS.leaves),
      degree: num(ctx, 'degree', DEFAULTS.degree),
      opIntervalMs: num(ctx, 'interval', DEFAULTS.opIntervalMs),
      antiEntropyMs: num(ctx, 'anti-entropy', DEFAULTS.antiEntropyMs),
      settleMs: num(ctx, 'settle', DEFAULTS.settleMs),
      spotEvery: num(ctx, 'spot-every', DEFAULTS.spotEvery),
      breakage: inject,
    })
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message, 'sim')
    throw e
  }
}

async function runSimCommand(ctx: Ctx): Promise<number> {
  const o = simOptions(ctx)
  const r = await runSim(o)
  let smallest: { command: string; violations: number } | undefined
  if (r.violations.length > 0 && !ctx.flag('no-shrink')) {
    ctx.note(`bt sim: ${r.violations.length} violation(s); shrinking (same seed, fewer steps and nodes)...`)
    const s = await shrink(o, r)
    smallest = { command: reproduceCommand(s.options), violations: s.result.violations.length }
  }
  const file = ctx.value('report')
  if (file !== undefined) writeFileSync(file, renderReport(r))
  if (ctx.json) {
    await ctx.outJson({
      seed: r.seed,
      traceHash: r.traceHash,
      converged: r.converged,
      violations: r.violations,
      command: r.command,
      ...(smallest ? { smallest } : {}),
      ops: r.ops,
      messages: r.messages,
      events: r.events,
      virtualMs: Math.round(r.virtualMs),
      wallMs: r.wallMs,
      convergeMs: r.convergeMs === null ? null : Math.round(r.convergeMs),
      opsPerWallSecond: r.wallMs > 0 ? Math.round((r.ops.total * 1000) / r.wallMs) : null,
      heapMB: r.heapMB,
    })
  } else {
    for (const line of summary(r)) await ctx.out(line)
    if (file !== undefined) await ctx.out(`report:       ${file}`)
  }
  if (r.violations.length === 0) return 0
  ctx.io.stderr.write(
    `bt: sim: ${r.violations.length} violation(s) with seed ${r.seed}\n` +
      `  reproduce: ${r.command}\n` +
      (smallest ? `  smallest failing case found: ${smallest.command}\n` : ''),
  )
  return 1
}

function summary(r: SimResult): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  const lines = [
    `seed:         ${r.seed}`,
    `operations:   ${r.ops.total} (${r.ops.ok} acknowledged, ${r.ops.refused} refused with a POSIX code)`,
    `messages:     ${r.messages.frames} frames, ${r.messages.frameBytes} bytes (${r.messages.datagrams} datagrams, ${r.messages.dropped} dropped, ${r.messages.retransmits} retransmitted)`,
    `virtual time: ${s(r.virtualMs)}`,
    `wall time:    ${s(r.wallMs)} (${r.wallMs > 0 ? Math.round((r.ops.total * 1000) / r.wallMs) : 0} ops/s)`,
    `converged:    ${r.converged ? `yes, ${s(r.convergeMs ?? 0)} after the final heal` : 'no'}`,
    `trace hash:   ${r.traceHash}`,
    `violations:   ${r.violations.length}`,
  ]
  for (const v of r.violations.slice(0, 20))
    lines.push(`  [${s(v.at)}] ${v.kind}: ${v.detail.split('\n')[0]}`)
  if (r.violations.length > 20) lines.push(`  ... ${r.violations.length - 20} more (--json lists all)`)
  return lines
}
