/**
 * Where a running daemon says it is: `<home>/daemon.json` ({pid, socket,
 * started, version}) and its Unix socket, normally `<home>/bt.sock`.
 */
import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HOME_FILES } from '../home.js'
import { NodeError } from '../node-error.js'

/** Contents of daemon.json. */
export interface DaemonFile {
  pid: number
  /** Absolute path of the Unix socket. */
  socket: string
  /** Start time, ms since epoch. */
  started: number
  /** `bt` version of the daemon. */
  version: string
}

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
export const SOCKET_PATH_MAX = 107

/**
 * The socket path for a data dir: `<home>/bt.sock`, or, when that is longer
 * than a Unix socket path may be, `<hash of home>.sock` in a private
 * per-user directory (`privateSocketDir`). daemon.json records which.
 */
export function socketPathFor(home: string, env: NodeJS.ProcessEnv = process.env): string {
  const inHome = join(home, HOME_FILES.socket)
  if (Buffer.byteLength(inHome) <= SOCKET_PATH_MAX) return inHome
  const hash = createHash('sha256').update(home).digest('hex').slice(0, 24)
  const alt = join(privateSocketDir(env), `${hash}.sock`)
  if (Buffer.byteLength(alt) > SOCKET_PATH_MAX)
    throw new NodeError(
      'EDAEMON',
      home,
      `no usable socket path: ${alt} is longer than ${SOCKET_PATH_MAX} bytes`,
    )
  return alt
}

/** Where hash-named sockets live: a per-user directory (0700) under $XDG_RUNTIME_DIR or the temp dir. */
export function privateSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_RUNTIME_DIR || tmpdir(), `bt-${process.getuid?.() ?? 'user'}`)
}

/**
 * Create the private socket directory if needed and check that it is ours and
 * closed to others (in a shared temp dir someone else could have made it).
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = lstatSync(dir)
  const uid = process.getuid?.()
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0)
    throw new NodeError(
      'EDAEMON',
      dir,
      'the socket directory must be a directory owned by this user with mode 0700',
    )
}

/** Path of daemon.json in a data dir. */
export function daemonFilePath(home: string): string {
  return join(home, HOME_FILES.daemon)
}

/** daemon.json, or undefined when absent or unreadable (a torn or foreign file counts as absent). */
export function readDaemonFile(home: string): DaemonFile | undefined {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(daemonFilePath(home), 'utf8'))
  } catch {
    return undefined
  }
  const o = v as Partial<DaemonFile> | null
  if (
    !o ||
    typeof o.pid !== 'number' ||
    !Number.isSafeInteger(o.pid) ||
    o.pid <= 0 ||
    typeof o.socket !== 'string' ||
    o.socket === ''
  )
    return undefined
  return {
    pid: o.pid,
    socket: o.socket,
    started: typeof o.started === 'number' ? o.started : 0,
    version: typeof o.version === 'string' ? o.version : '?',
  }
}

/** Write daemon.json atomically (readers never see half a file). */
export function writeDaemonFile(home: string, f: DaemonFile): void {
  const path = daemonFilePath(home)
  const tmp = `${path}.${f.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, path)
}

/**
 * Remove daemon.json and the socket it names (plus the default socket path).
 * Only call while holding the data dir's lock: otherwise a daemon starting
 * at the same moment could lose its files.
 */
export function removeDaemonFiles(home: string, socket?: string): void {
  const recorded = readDaemonFile(home)?.socket
  for (const p of new Set([socket, recorded, socketPathFor(home)]))
    if (p && isSocket(p)) rmSync(p, { force: true })
  rmSync(daemonFilePath(home), { force: true })
}

/** Only sockets are removed, so a damaged daemon.json can never make us delete another file. */
function isSocket(p: string): boolean {
  try {
    return lstatSync(p).isSocket()
  } catch {
    return false
  }
}
