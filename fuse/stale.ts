/**
 * FUSE mounts as the system sees them: whether a directory is a mount point
 * (from /proc/self/mountinfo), whether a FUSE mount there is dead (its server
 * process is gone: any access fails with ENOTCONN), and unmounting with
 * `fusermount`. Everything here is asynchronous: a synchronous call on a
 * mount served by this very process would deadlock it.
 */
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'

/** One mount point, as /proc/self/mountinfo lists it. */
export interface MountEntry {
  /** Absolute mount point. */
  dir: string
  /** Filesystem type (`fuse.bt` for ours, `fuse` for other libfuse mounts). */
  fstype: string
  /** The mount source (`bt:TREE` for ours). */
  source: string
}

/** How long a stat of a mount point may take before it counts as hung. */
const STAT_TIMEOUT_MS = 3000

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
}

/** Parse /proc/self/mountinfo text into entries (in mount order). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const left = line.slice(0, sep).split(' ')
    const right = line.slice(sep + 3).split(' ')
    if (left.length < 5 || right.length < 2) continue
    out.push({ dir: unescapeMountPath(left[4]!), fstype: right[0]!, source: unescapeMountPath(right[1]!) })
  }
  return out
}

/** Every mount of the system, newest last. */
export async function listMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'))
}

/** The topmost mount at `dir` (an exact mount point), if any. */
export async function mountAt(dir: string): Promise<MountEntry | undefined> {
  const abs = resolve(dir)
  const all = await listMounts()
  for (let i = all.length - 1; i >= 0; i--) if (all[i]!.dir === abs) return all[i]
  return undefined
}

/** Whether an entry is a FUSE mount (of any FUSE filesystem). */
export function isFuse(m: MountEntry): boolean {
  return m.fstype === 'fuse' || m.fstype.startsWith('fuse.') || m.fstype === 'fuseblk'
}

/**
 * What stat of `dir` says about the mount there: `ok`, `dead` (ENOTCONN or
 * ECONNABORTED: the FUSE server is gone), `hung` (no answer within the
 * timeout), or another errno code.
 */
export async function probe(dir: string, timeoutMs = STAT_TIMEOUT_MS): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((r) => {
    timer = setTimeout(() => r('hung'), timeoutMs)
  })
  const check = stat(dir).then(
    () => 'ok',
    (e: NodeJS.ErrnoException) =>
      e.code === 'ENOTCONN' || e.code === 'ECONNABORTED' ? 'dead' : (e.code ?? 'EIO'),
  )
  try {
    return await Promise.race([check, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Run `fusermount -u [-z] dir`; rejects with fusermount's message on failure. */
export function fusermountUnmount(dir: string, lazy: boolean): Promise<void> {
  return new Promise((res, rej) => {
    execFile('fusermount', lazy ? ['-u', '-z', dir] : ['-u', dir], (err, _out, stderr) => {
      if (!err) return res()
      const msg = String(stderr).trim() || err.message
      rej(new Error(`fusermount: ${msg}`))
    })
  })
}

/**
 * If a FUSE mount at `dir` is dead (left by a process that crashed or was
 * killed), detach it lazily; returns whether one was cleaned. A live or hung
 * mount is left alone.
 */
export async function cleanStaleMount(dir: string): Promise<boolean> {
  const m = await mountAt(dir)
  if (!m || !isFuse(m)) return false
  if ((await probe(dir)) !== 'dead') return false
  await fusermountUnmount(resolve(dir), true)
  return true
}
