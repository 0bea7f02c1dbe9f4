/**
 * Stop the daemon when the process that owns it is gone.
 *
 * `BT_EXIT_WITH_PID=N bt up` ties a node's lifetime to process N: a test
 * runner, or a supervisor that starts nodes with `bt up --detach` and may
 * itself be killed. Without it, a detached node whose owner died keeps
 * running (and holds its data dir's lock) until someone runs `bt down`.
 */
import { isAlive } from './control.js'

/** Parse `BT_EXIT_WITH_PID`: undefined when unset or empty, an error for anything but a positive pid. */
export function ownerPidFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.BT_EXIT_WITH_PID
  if (raw === undefined || raw === '') return undefined
  const pid = Number(raw)
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new Error(`BT_EXIT_WITH_PID must be a process id (a positive integer), got ${JSON.stringify(raw)}`)
  }
  return pid
}

/**
 * Poll every `intervalMs` whether `pid` still exists; call `onGone` once when
 * it does not. Returns a function that stops watching. The timer never keeps
 * the process alive on its own.
 */
export function watchOwner(pid: number, onGone: () => void, intervalMs = 1000): () => void {
  const timer = setInterval(() => {
    if (isAlive(pid)) return
    clearInterval(timer)
    onGone()
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
