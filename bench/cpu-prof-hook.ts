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

const dir = process.env.BT_CPU_PROF_DIR
if (dir) {
  const s = new Session()
  s.connect()
  s.post('Profiler.enable')
  s.post('Profiler.setSamplingInterval', { interval: 500 })
  let running = false
  let n = 0
  process.on('SIGUSR2', () => {
    if (!running) {
      process.stderr.write('cpu-prof-hook: profiling\n')
      s.post('Profiler.start')
      running = true
      return
    }
    running = false
    s.post('Profiler.stop', (err, r) => {
      if (err) process.stderr.write(`cpu-prof-hook: ${err.message}\n`)
      else writeFileSync(join(dir, `${process.pid}-${n++}.cpuprofile`), JSON.stringify(r.profile))
    })
  })
}
