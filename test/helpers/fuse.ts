/**
 * Real FUSE mounts in tests. `withMount` mounts a Volume in a fresh
 * directory and ALWAYS unmounts and removes it in teardown (falling back to
 * `fusermount -u -z`). `sh`/`py` touch the mount from a child process: a
 * synchronous call on the mount from this process (which serves it) would
 * deadlock, so tests use these or fs.promises only.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type FuseMount,
  fusermountUnmount,
  type MountOptions,
  mountAt,
  mountVolume,
} from '../../fuse/index.js'
import { openDiskVolume, openMemoryVolume } from '../../node/open-tree.js'
import type { TreeVolume } from '../../node/volume.js'
import type { Volume } from '../../node/volume-types.js'
import { systemRuntime } from '../../sync/runtime.js'
import type { Teardown } from './tmp.js'

/** Why FUSE tests cannot run here, or undefined when they can. */
export function fuseSkipReason(): string | undefined {
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing (modprobe fuse, or run where FUSE is available)'
  if (!['/bin/fusermount', '/usr/bin/fusermount'].some((p) => existsSync(p)))
    return 'fusermount is missing (Debian package fuse)'
  if (process.getuid?.() !== 0) return 'FUSE tests mount as root (CI runs as root)'
  return undefined
}

export interface Mounted {
  /** The mount point. */
  dir: string
  volume: Volume
  mount: FuseMount
  /** A scratch directory on the local disk beside the mount (for differential runs, archives). */
  scratch: string
}

export interface WithMountOptions extends MountOptions {
  /** Volume to mount (default: a fresh one, see `disk`); the caller closes a volume it passes. */
  volume?: Volume
  /** Fresh volume on disk (chunks in SQLite, staging spills to disk) instead of in memory. */
  disk?: boolean
}

/** Unmount `dir` whatever state it is in (live, dead, or not mounted); never throws. */
export async function forceUnmount(dir: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const m = await mountAt(dir).catch(() => undefined)
    if (!m) return
    await fusermountUnmount(dir, true).catch(() => {})
  }
}

/** Mount a Volume in a temporary directory for the duration of the test. */
export async function withMount(t: Teardown, o: WithMountOptions = {}): Promise<Mounted> {
  const root = await mkdtemp(join(tmpdir(), 'bt-fuse-'))
  const dir = join(root, 'mnt')
  const scratch = join(root, 'scratch')
  await mkdir(dir)
  await mkdir(scratch)
  let own: TreeVolume | undefined
  let mount: FuseMount | undefined
  t.after(async () => {
    try {
      await mount?.unmount({ lazy: true })
    } catch {
      // forceUnmount below
    }
    await forceUnmount(dir)
    await own?.close().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })
  if (!o.volume) {
    own = o.disk
      ? await openDiskVolume({
          dir: join(root, 'data'),
          nodeId: 'fuse-test',
          key: randomBytes(32),
          runtime: systemRuntime(),
        })
      : await openMemoryVolume({ nodeId: 'fuse-test', key: randomBytes(32), runtime: systemRuntime() })
  }
  const volume: Volume = o.volume ?? own!
  const { volume: _v, disk: _d, ...mountOpts } = o
  mount = await mountVolume(volume, dir, { name: 'test', log: () => {}, ...mountOpts })
  return { dir, volume, mount, scratch }
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Run a shell command in a child process (never touching the mount from this process). */
export function sh(
  cmd: string,
  opts: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      'sh',
      ['-c', cmd],
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** `sh`, failing the test with the command's stderr unless it exits 0; returns stdout. */
export async function shOk(
  cmd: string,
  opts: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const r = await sh(cmd, opts)
  if (r.code !== 0) throw new Error(`'${cmd}' exited ${r.code}: ${r.stderr.trim()}`)
  return r.stdout
}

/** Run a Python 3 script in a child process; its stdout is returned (it must exit 0). */
export async function py(script: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'python3',
      ['-'],
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`python3 exited ${String(err.code)}: ${stderr.trim()}`))
        else resolve(stdout)
      },
    )
    child.stdin?.end(script)
  })
}
