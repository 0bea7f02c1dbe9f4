/**
 * `--import` hook that CPU-profiles a process between two SIGUSR2 signals
 * (`--cpu-prof` is refused in NODE_OPTIONS, this is not):
 * `NODE_OPTIONS="--import /abs/dist/bench/cpu-prof-hook.js" BT_CPU_PROF_DIR=DIR`.
 * The first SIGUSR2 starts the profiler, the second writes
 * DIR/<pid>-<n>.cpuprofile. Used by bench/sync-transfer.ts (BT_BENCH_PROF).
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { constants, PerformanceObserver } from 'node:perf_hooks'

const dir = process.env.BT_CPU_PROF_DIR
if (dir) {
  const s = new Session()
  s.connect()
  s.post('Profiler.enable')
  s.post('Profiler.setSamplingInterval', { interval: 500 })
  let running = false
  let n = 0
  // Garbage collections while profiling, by kind: count and milliseconds (written beside the profile).
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  }
  let gc: Record<string, { count: number; ms: number }> = {}
  const obs = new PerformanceObserver((list) => {
    if (!running) return
    for (const e of list.getEntries()) {
      const kind = kinds[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other'
      const g = gc[kind] ?? { count: 0, ms: 0 }
      gc[kind] = g
      g.count++
      g.ms += e.duration
    }
  })
  obs.observe({ entryTypes: ['gc'] })
  process.on('SIGUSR2', () => {
    if (!running) {
      process.stderr.write('cpu-prof-hook: profiling\n')
      gc = {}
      s.post('Profiler.start')
      running = true
      return
    }
    running = false
    s.post('Profiler.stop', (err, r) => {
      if (err) process.stderr.write(`cpu-prof-hook: ${err.message}\n`)
      else {
        writeFileSync(join(dir, `${process.pid}-${n}.gc.json`), JSON.stringify(gc))
        writeFileSync(join(dir, `${process.pid}-${n++}.cpuprofile`), JSON.stringify(r.profile))
      }
    })
  })
}
