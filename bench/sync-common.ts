/** Shared by the replication benchmarks (sync-latency, sync-transfer, sync-metadata). */
import type { Teardown } from '../test/helpers/tmp.js'

/** A teardown list for code outside node:test (the e2e harness registers cleanups on it). */
export function benchTeardown(): { t: Teardown; run(): Promise<void> } {
  const fns: (() => unknown)[] = []
  return {
    t: { after: (fn) => fns.push(fn) },
    async run() {
      for (const fn of fns.reverse()) await fn()
    },
  }
}

/** p50/p90/p99/max of samples (nearest rank). */
export function percentiles(xs: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? Number.NaN }
}

export const MIB = 1024 * 1024

/** Seconds since `t0` (a performance.now() value). */
export const since = (t0: number) => (performance.now() - t0) / 1000

/** Bytes as KiB or MiB with one decimal. */
export const size = (b: number) => (b < MIB ? `${(b / 1024).toFixed(1)} KiB` : `${(b / MIB).toFixed(1)} MiB`)
