/**
 * Shrinking: a failing run is retried with the same seed and fewer steps,
 * then fewer nodes, keeping each reduction that still fails, so the report
 * names the smallest failing case found (within a budget of runs).
 */
import type { SimOptions } from './options.js'
import { runSim, type SimResult } from './run.js'

export interface ShrinkResult {
  options: SimOptions
  result: SimResult
  /** Runs tried while shrinking. */
  tries: number
}

export async function shrink(
  failing: SimOptions,
  first: SimResult,
  opts: { maxTries?: number; onTry?: (o: SimOptions, failed: boolean) => void } = {},
): Promise<ShrinkResult> {
  const maxTries = opts.maxTries ?? 16
  let best = { options: failing, result: first }
  let tries = 0
  const attempt = async (o: SimOptions): Promise<boolean> => {
    if (tries >= maxTries) return false
    tries++
    const r = await runSim(o)
    const failed = r.violations.length > 0
    opts.onTry?.(o, failed)
    if (failed) best = { options: o, result: r }
    return failed
  }
  const minNodes = (o: SimOptions) => Math.max(1, o.readers + o.late + o.leaves + 1)
  let progress = true
  while (progress && tries < maxTries) {
    progress = false
    // Steps: halve while it fails, then try cutting a quarter.
    for (const cut of [0.5, 0.75]) {
      const o = best.options
      const steps = Math.floor(o.steps * cut)
      if (steps < o.steps && steps >= 1 && (await attempt({ ...o, steps }))) progress = true
    }
    // Nodes: one fewer at a time.
    const o = best.options
    if (o.nodes - 1 >= minNodes(o) && (await attempt({ ...o, nodes: o.nodes - 1 }))) progress = true
  }
  return { ...best, tries }
}
