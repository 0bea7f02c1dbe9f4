/**
 * Loaded into every test process by `npm test` (through owner.ts): once the
 * file's tests have all finished, the process has `BT_TEST_EXIT_GRACE_MS`
 * (default 60 s) to exit by itself. A test that leaves a handle behind (a
 * server, a socket, an interval, a child process, a FUSE mount that was never
 * unmounted) would otherwise keep it alive forever and hang the whole CI run
 * with every test reported as passed. Past the grace it prints what is still
 * alive and kills itself (SIGKILL), which fails the file.
 *
 * A main thread that is blocked (not idle) runs no timer: the runner's
 * `--test-timeout` is what ends that case.
 */
import { after } from 'node:test'

const DEFAULT_GRACE_MS = 60_000

function grace(): number {
  const v = Number(process.env.BT_TEST_EXIT_GRACE_MS)
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_GRACE_MS
}

/** What keeps the event loop alive, described for a person. */
export function liveResources(): string {
  const kinds = process.getActiveResourcesInfo().filter((k) => k !== 'TTYWrap')
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
  const details: string[] = []
  for (const h of handles) {
    const o = h as { constructor?: { name?: string }; spawnargs?: string[]; pid?: number }
    if (o.spawnargs) details.push(`child ${o.pid}: ${o.spawnargs.join(' ').slice(0, 200)}`)
  }
  const counts = new Map<string, number>()
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1)
  const summary = [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', ')
  return [summary || 'no handle node reports (a FUSE mount or native handle?)', ...details].join('; ')
}

// Only in a test file's own process (the runner sets NODE_TEST_CONTEXT there), not in the
// `node --test` runner itself, which loads this too.
if (process.env.NODE_TEST_CONTEXT) after(watchExit)

function watchExit(): void {
  const ms = grace()
  setTimeout(() => {
    process.stderr.write(
      `exit-watch: test process ${process.pid} (${process.argv[1] ?? '?'}) still alive ${ms / 1000} s after its tests finished; what keeps it alive: ${liveResources()}\n`,
    )
    // Not process.exit: its atexit handlers join libuv's thread pool, and a pool thread blocked
    // on a FUSE mount this very process serves would never return (a hang at exit).
    process.kill(process.pid, 'SIGKILL')
  }, ms).unref()
}
