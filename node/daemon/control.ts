/**
 * Finding, starting and stopping the daemon of a data dir from another
 * process (`bt status`, `bt up --detach`, `bt down`).
 */
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HOME_FILES } from '../home.js'
import { HomeLock } from '../lock.js'
import { NodeError } from '../node-error.js'
import { RemoteApi } from './client.js'
import { ClientConnection } from './connection.js'
import { readDaemonFile, removeDaemonFiles } from './daemon-file.js'

/** How long `stopDaemon` waits after its SIGTERM (a stopping daemon then aborts what still runs). */
const AFTER_TERM_MS = 5000

/** The `bt` entry point a detached daemon runs. */
export const BT_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url))

/** NodeError ELOCKED for a second daemon on the same data dir. */
export function alreadyRunning(home: string, pid: number): NodeError {
  return new NodeError('ELOCKED', home, `a node is already running for this data dir (pid ${pid})`)
}

/**
 * The daemon serving `home`, if one answers on the socket daemon.json names.
 * Files left by a dead daemon are removed, but only once this process holds
 * the data dir's lock (so a daemon starting right now cannot lose them).
 */
export async function daemonInfo(
  home: string,
  timeoutMs = 5000,
): Promise<{ pid: number; socket: string } | undefined> {
  const f = readDaemonFile(home)
  if (!f) return undefined
  try {
    const c = await ClientConnection.open(f.socket, timeoutMs)
    await c.close()
    return { pid: f.pid, socket: f.socket }
  } catch {
    await cleanStale(home)
    return undefined
  }
}

async function cleanStale(home: string): Promise<void> {
  let lock: HomeLock
  try {
    lock = await HomeLock.acquire(home)
  } catch {
    return // held: a daemon is starting or stopping, or a bt command runs; not stale for sure
  }
  try {
    removeDaemonFiles(home)
  } finally {
    lock.release()
  }
}

export interface StartDetachedOptions {
  home: string
  /** Arguments of the foreground `bt up` to run (e.g. `['up', '--home', home]`); `--detach` is dropped. */
  args: string[]
  /** How long to wait for the node to serve (default 30 s). */
  timeoutMs?: number
  /** Script to run instead of the bt entry (tests). */
  entry?: string
  /**
   * Written to the child's stdin, which is then closed (e.g. the key
   * passphrase for `bt up --passphrase-stdin`: never on the command line).
   */
  input?: string
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv
}

/**
 * `bt up --detach`: start `bt up` as a detached process logging to
 * `<home>/node.log`, and return once it serves. If it exits first, throws
 * NodeError EDAEMON carrying the last lines it logged.
 */
export async function startDetached(o: StartDetachedOptions): Promise<{ pid: number; socket: string }> {
  const running = await daemonInfo(o.home)
  if (running) throw alreadyRunning(o.home, running.pid)
  mkdirSync(o.home, { recursive: true, mode: 0o700 })
  const logPath = join(o.home, HOME_FILES.log)
  let from = 0
  try {
    from = statSync(logPath).size
  } catch {
    // no log yet
  }
  const fd = openSync(logPath, 'a', 0o600)
  let child: ReturnType<typeof spawn>
  try {
    child = spawn(process.execPath, [o.entry ?? BT_ENTRY, ...o.args.filter((a) => a !== '--detach')], {
      detached: true,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', fd, fd],
      ...(o.env ? { env: o.env } : {}),
    })
    // A child that dies before reading its stdin must not kill us with EPIPE.
    child.stdin?.on('error', () => {})
    if (o.input !== undefined) child.stdin?.end(o.input)
  } finally {
    closeSync(fd)
  }
  let exited: string | undefined
  let spawnError: Error | undefined
  child.on('exit', (code, signal) => {
    exited = signal ? `was killed by ${signal}` : `exited with status ${code}`
  })
  child.on('error', (e) => {
    spawnError = e
  })
  child.unref()
  const pid = child.pid
  const deadline = Date.now() + (o.timeoutMs ?? 30_000)
  for (;;) {
    if (spawnError) throw new NodeError('EDAEMON', o.home, `cannot start the node: ${spawnError.message}`)
    const f = readDaemonFile(o.home)
    if (f && f.pid === pid) {
      try {
        const c = await ClientConnection.open(f.socket, 2000)
        await c.close()
        return { pid: f.pid, socket: f.socket }
      } catch {
        // not serving yet
      }
    }
    if (exited !== undefined) {
      const tail = logTail(logPath, from)
      throw new NodeError(
        'EDAEMON',
        o.home,
        `the node ${exited} before it was ready${tail ? `:\n${tail}` : ` (see ${logPath})`}`,
      )
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM')
      throw new NodeError(
        'EDAEMON',
        o.home,
        `the node did not become ready within ${o.timeoutMs ?? 30_000} ms (see ${logPath})`,
      )
    }
    await sleep(50)
  }
}

/**
 * `bt down`: ask the daemon to stop and wait until it is gone; if it is not
 * gone within `timeoutMs`, send SIGTERM (which makes a stopping daemon abort
 * what is still running) and wait a little more. Returns false when no daemon
 * was running; throws NodeError EDAEMON if it would not stop.
 */
export async function stopDaemon(o: { home: string; timeoutMs?: number }): Promise<boolean> {
  const info = await daemonInfo(o.home)
  if (!info) return false
  const timeoutMs = o.timeoutMs ?? 30_000
  try {
    const api = await RemoteApi.connect(info.socket)
    try {
      await api.shutdown()
    } finally {
      await api.close()
    }
  } catch {
    // It may be stopping already; what counts is that it goes away.
  }
  if (await waitGone(o.home, info.pid, timeoutMs)) return true
  if (info.pid !== process.pid) {
    try {
      process.kill(info.pid, 'SIGTERM')
    } catch {
      // gone meanwhile
    }
    if (await waitGone(o.home, info.pid, AFTER_TERM_MS)) return true
  }
  throw new NodeError(
    'EDAEMON',
    o.home,
    `the node (pid ${info.pid}) did not stop within ${timeoutMs + AFTER_TERM_MS} ms; see ${join(o.home, HOME_FILES.log)}`,
  )
}

/** Until the daemon process is gone (in-process daemons, in tests: until the data dir's lock is free). */
async function waitGone(home: string, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (pid === process.pid) {
      try {
        ;(await HomeLock.acquire(home)).release()
        return true
      } catch {
        // still held
      }
    } else if (!isAlive(pid)) return true
    if (Date.now() > deadline) return false
    await sleep(50)
  }
}

/** Whether a process exists and is not a zombie (a dead child nobody reaped yet). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no procfs: trust kill(0)
  }
}

function logTail(path: string, from: number, lines = 12): string {
  try {
    const text = readFileSync(path).subarray(from).toString('utf8')
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .join('\n')
  } catch {
    return ''
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
