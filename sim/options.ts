/**
 * Options of a simulated run, their defaults, and the `bt sim` command line
 * that reproduces a run (printed with every violation).
 */
import type { Breakage } from './node.js'
import { DEFAULT_MIX, formatMix, type Mix } from './workload.js'

export interface SimOptions {
  nodes: number
  seed: number
  /** Workload operations. */
  steps: number
  /** One-way latency range, ms. */
  latency: [number, number]
  loss: number
  dup: number
  reorder: number
  /** Link bandwidth, bytes per second. */
  bandwidth: number
  /** Probability per step that a partition starts (when none is active). */
  partitions: number
  /** Probability per step that a random node crashes. */
  crashes: number
  workload: Mix
  /** Nodes that are readers (the last ones). */
  readers: number
  /** Nodes that join late through an invitation (after the others, before the middle of the run). */
  late: number
  /** Writers that leave for good in the second half of the run (hand-off, then removal by the admin). */
  leaves: number
  /** Peers each node dials (0: every other member). */
  degree: number
  /** Mean virtual ms between operations. */
  opIntervalMs: number
  antiEntropyMs: number
  /** Give up waiting for convergence after this much virtual time past the end of the workload. */
  settleMs: number
  breakage: Breakage
  /** Run the cheap invariants every this many steps (0: never). */
  spotEvery: number
}

export const DEFAULTS: SimOptions = {
  nodes: 5,
  seed: 1,
  steps: 200,
  latency: [5, 200],
  loss: 0,
  dup: 0,
  reorder: 0,
  bandwidth: 12.5e6,
  partitions: 0,
  crashes: 0,
  workload: DEFAULT_MIX,
  readers: 0,
  late: 0,
  leaves: 0,
  degree: 0,
  opIntervalMs: 200,
  antiEntropyMs: 10_000,
  settleMs: 600_000,
  breakage: 'none',
  spotEvery: 50,
}

/** Parse `5-200ms`, `50ms`, `5-200` into a latency range. */
export function parseLatency(text: string): [number, number] {
  const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?(?:ms)?$/.exec(text.trim())
  if (!m) throw new RangeError(`bad latency '${text}' (want e.g. 5-200ms or 50ms)`)
  const lo = Number(m[1])
  const hi = m[2] === undefined ? lo : Number(m[2])
  if (hi < lo) throw new RangeError(`bad latency '${text}': the range is reversed`)
  return [lo, hi]
}

/** The shortest `bt sim` line that reproduces a run: only options that differ from the defaults. */
export function reproduceCommand(o: SimOptions): string {
  const parts = ['bt sim', `--nodes ${o.nodes}`, `--seed ${o.seed}`, `--steps ${o.steps}`]
  const d = DEFAULTS
  if (o.latency[0] !== d.latency[0] || o.latency[1] !== d.latency[1])
    parts.push(`--latency ${o.latency[0]}-${o.latency[1]}ms`)
  if (o.loss !== d.loss) parts.push(`--loss ${o.loss}`)
  if (o.dup !== d.dup) parts.push(`--dup ${o.dup}`)
  if (o.reorder !== d.reorder) parts.push(`--reorder ${o.reorder}`)
  if (o.bandwidth !== d.bandwidth) parts.push(`--bandwidth ${o.bandwidth}`)
  if (o.partitions !== d.partitions) parts.push(`--partitions ${o.partitions}`)
  if (o.crashes !== d.crashes) parts.push(`--crashes ${o.crashes}`)
  if (formatMix(o.workload) !== formatMix(d.workload)) parts.push(`--workload ${formatMix(o.workload)}`)
  if (o.readers !== d.readers) parts.push(`--readers ${o.readers}`)
  if (o.late !== d.late) parts.push(`--late ${o.late}`)
  if (o.leaves !== d.leaves) parts.push(`--leave ${o.leaves}`)
  if (o.degree !== d.degree) parts.push(`--degree ${o.degree}`)
  if (o.opIntervalMs !== d.opIntervalMs) parts.push(`--interval ${o.opIntervalMs}`)
  if (o.antiEntropyMs !== d.antiEntropyMs) parts.push(`--anti-entropy ${o.antiEntropyMs}`)
  if (o.settleMs !== d.settleMs) parts.push(`--settle ${o.settleMs}`)
  if (o.spotEvery !== d.spotEvery) parts.push(`--spot-every ${o.spotEvery}`)
  if (o.breakage !== d.breakage) parts.push(`--inject ${o.breakage}`)
  return parts.join(' ')
}

/** Check ranges; RangeError with the option's name. */
export function validate(o: SimOptions): SimOptions {
  const int = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isSafeInteger(v) || v < lo || v > hi)
      throw new RangeError(`--${name} must be an integer in ${lo}..${hi}, got ${v}`)
  }
  const prob = (name: string, v: number) => {
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`--${name} must be in 0..1, got ${v}`)
  }
  int('nodes', o.nodes, 1, 1000)
  int('seed', o.seed, 0, 2 ** 32 - 1)
  int('steps', o.steps, 0, 10_000_000)
  int('readers', o.readers, 0, o.nodes - 1)
  int('late', o.late, 0, Math.max(0, o.nodes - 1 - o.readers))
  int('leave', o.leaves, 0, Math.max(0, o.nodes - 1 - o.readers - o.late))
  int('degree', o.degree, 0, 1000)
  int('spot-every', o.spotEvery, 0, 10_000_000)
  prob('loss', o.loss)
  prob('dup', o.dup)
  prob('reorder', o.reorder)
  prob('partitions', o.partitions)
  prob('crashes', o.crashes)
  if (o.loss >= 0.5) throw new RangeError('--loss must be below 0.5 (nothing would get through)')
  if (!(o.bandwidth > 0)) throw new RangeError('--bandwidth must be positive')
  if (!(o.opIntervalMs > 0)) throw new RangeError('--interval must be positive')
  if (!(o.antiEntropyMs > 0)) throw new RangeError('--anti-entropy must be positive')
  if (!(o.settleMs > 0)) throw new RangeError('--settle must be positive')
  return o
}
