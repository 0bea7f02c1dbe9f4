/**
 * `mountVolume`: serve a `Volume` at a directory through FUSE (fuse-native,
 * libfuse 2). The mount is coherent with every other user of the same Volume
 * object (the CLI through the daemon, replication): the kernel caches neither
 * entries nor attributes (timeouts 0) and drops a file's page cache at every
 * open, so a change made elsewhere shows at the next lookup, stat or open.
 */

import { constants } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Volume } from '../node/volume-types.js'
import { addonProblem, binding, exactTimes, Fuse } from './native.js'
import { type FuseStats, VolumeOps } from './ops.js'
import { cleanStaleMount, fusermountUnmount, isFuse, mountAt, probe } from './stale.js'

/** Largest write request the kernel sends (with big_writes; else 4 KiB). */
export const MAX_WRITE = 131072

/**
 * How long `mountVolume` waits for the kernel to start serving (the FUSE INIT
 * request answered) before it gives up. A mount takes ~50 ms; a loaded machine
 * stretches that to seconds, never to this.
 */
export const MOUNT_TIMEOUT_MS = 30_000

export interface MountOptions {
  /** Shown as the mount's source (`bt:NAME`), e.g. the tree name. */
  name?: string
  /** Log sink for failures the kernel cannot carry (default: stderr). */
  log?: (line: string) => void
  /** Clock for `touch` (default Date.now: this is the composition root's side). */
  now?: () => number
  /**
   * Subscribe to changes of the tree made outside this mount (CLI, replication);
   * returns the unsubscribe function. Drops read-ahead windows that may be stale.
   */
  subscribe?: (listener: () => void) => () => void
  /** Clean a dead FUSE mount left at `dir` by a crashed process first (default true). */
  cleanStale?: boolean
  /** libfuse debug output on stderr. */
  debug?: boolean
  /** Mount read-only (`ro`): the kernel answers EROFS to every change (a reader's tree). */
  readOnly?: boolean
  /** Fail with ETIMEDOUT (and clean up) if the mount is not served within this (default MOUNT_TIMEOUT_MS). */
  timeoutMs?: number
}

/** Why a directory cannot be mounted on (`code` as errno names, for callers to branch on). */
export class MountError extends Error {
  override name = 'MountError'
  constructor(
    readonly code: 'ENOENT' | 'ENOTDIR' | 'ENOTEMPTY' | 'EBUSY' | 'EFUSE' | 'ETIMEDOUT',
    readonly dir: string,
    message: string,
  ) {
    super(`${dir}: ${message}`)
  }
}

export interface FuseMount {
  /** Absolute mount point. */
  readonly dir: string
  readonly name: string | undefined
  /** Operation counters (live). */
  readonly stats: Readonly<FuseStats> & { readAheadHits: number; prefetches: number }
  readonly mounted: boolean
  /**
   * Commit what open handles staged, then unmount. `lazy`: detach even if
   * files are still open or a process works inside (they keep being served
   * while this process lives); otherwise a busy mount fails with EBUSY and
   * stays mounted.
   */
  unmount(opts?: { lazy?: boolean }): Promise<void>
}

/**
 * Thread buffers of the mounts the addon has made (`fuse_native_mount`
 * returned): only those may be unmounted natively. fuse-native calls the addon
 * through this shared exports object, so wrapping the function here sees every
 * mount. A mount that timed out uses it to tell "kernel mount made, INIT never
 * answered" (undo it) from "never got that far" (nothing native to undo).
 */
const nativeMounted = new WeakSet<object>()
{
  const addon = binding as unknown as { fuse_native_mount: (...args: unknown[]) => unknown }
  const mount = addon.fuse_native_mount
  addon.fuse_native_mount = function (this: unknown, ...args: unknown[]) {
    const r = mount.apply(this, args)
    nativeMounted.add(args[2] as object)
    return r
  }
}

/** fuse-native with our mount options and our unmount (see the class comment). */
class BtFuse extends Fuse {
  lazy = true

  constructor(
    dir: string,
    ops: VolumeOps,
    private readonly options: string[],
    debug: boolean,
  ) {
    // timeout false: fuse-native would otherwise start a 15 s timer per request.
    super(dir, ops.ops, { timeout: false, debug })
  }

  /** fuse-native only accepts a fixed option list; big_writes and max_write are not in it. */
  override _fuseOptions(): string {
    return `-o${this.options.join(',')}`
  }

  /**
   * fuse-native always runs `fusermount -uz` and skips its native unmount when
   * that fails (the mount may be gone already), which leaves a handle keeping
   * the event loop alive. We unmount as asked and always finish natively.
   */
  override _close(cb: (err: Error | null) => void): void {
    unmountDir(this.mnt, this.lazy).then(
      () => {
        try {
          if (this._thread) binding.fuse_native_unmount(this.mnt, this._thread)
          cb(null)
        } catch (e) {
          cb(e as Error)
        }
      },
      (e: Error) => cb(e),
    )
  }
}

/** fusermount -u; success too if the mount is already gone. */
async function unmountDir(dir: string, lazy: boolean): Promise<void> {
  try {
    await fusermountUnmount(dir, lazy)
  } catch (e) {
    const m = await mountAt(dir).catch(() => undefined)
    if (m && isFuse(m)) {
      const msg = (e as Error).message
      if (/busy/i.test(msg))
        throw new MountError(
          'EBUSY',
          dir,
          'busy: files are open or a process works in it (close them, or unmount lazily)',
        )
      throw new MountError('EFUSE', dir, msg)
    }
  }
}

/** Mounts whose native side a timeout already undid (a late INIT must not unmount twice). */
const nativeUndone = new WeakSet<object>()

/**
 * Run `attempt` with a deadline: past `ms` it rejects with ETIMEDOUT after
 * `undo` cleaned up what was made so far; `late()` tells the attempt, should it
 * complete afterwards, that nobody waits for it any more. The check of the
 * mount point is inside the deadline too: a stat of a directory on a hung
 * FUSE mount never returns.
 */
async function withDeadline(
  dir: string,
  ms: number,
  attempt: (late: () => boolean) => Promise<void>,
  undo: () => Promise<void>,
): Promise<void> {
  let expired = false
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'expired'>((r) => {
    timer = setTimeout(() => r('expired'), ms)
  })
  const run = attempt(() => expired)
  try {
    if ((await Promise.race([run, deadline])) !== 'expired') return
  } finally {
    clearTimeout(timer)
  }
  expired = true
  run.catch(() => {}) // it may still fail later; nobody waits for it
  await undo()
  throw new MountError(
    'ETIMEDOUT',
    dir,
    `not served within ${ms / 1000} s (the kernel's FUSE INIT was not answered, or the mount point did not answer a stat); gave up and cleaned up`,
  )
}

/** Check that `dir` can be mounted on: an existing empty directory, not a live mount. */
async function checkMountPoint(dir: string, clean: boolean): Promise<void> {
  if (clean) await cleanStaleMount(dir)
  const m = await mountAt(dir)
  if (m) {
    const state = await probe(dir)
    throw new MountError(
      'EBUSY',
      dir,
      `already a mount point (${m.fstype} ${m.source}${state === 'ok' ? '' : `, ${state}`})`,
    )
  }
  let st: Awaited<ReturnType<typeof stat>>
  try {
    st = await stat(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new MountError('ENOENT', dir, 'no such directory (create it first)')
    throw new MountError('EFUSE', dir, `cannot use it as a mount point: ${(e as Error).message}`)
  }
  if ((st.mode & constants.S_IFMT) !== constants.S_IFDIR)
    throw new MountError('ENOTDIR', dir, 'not a directory')
  if ((await readdir(dir)).length > 0) throw new MountError('ENOTEMPTY', dir, 'directory is not empty')
}

/** Mount `volume` at `dir` (an existing empty directory); resolves once the kernel serves it. */
/** The libfuse options of every mount (the benchmark's no-op ceiling mounts with them too). */
export function mountOptions(fsname: string, readOnly = false): string[] {
  return [
    `fsname=${fsname}`,
    'subtype=bt',
    // 128 KiB write requests instead of 4 KiB ones: ~10x the write throughput.
    'big_writes',
    `max_write=${MAX_WRITE}`,
    // No kernel caching of names or attributes: the CLI and replication change
    // the same tree behind the kernel's back, and libfuse 2 gives no way to
    // invalidate. Each lookup and stat asks the volume (an in-memory view).
    'entry_timeout=0',
    'attr_timeout=0',
    'negative_timeout=0',
    // The kernel checks mode bits against the caller, as on a local filesystem.
    'default_permissions',
    ...(readOnly ? ['ro'] : []),
  ]
}

export async function mountVolume(volume: Volume, dir: string, opts: MountOptions = {}): Promise<FuseMount> {
  const abs = resolve(dir)
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const ops = new VolumeOps({ volume, log, now: opts.now ?? Date.now, exactTimes })
  const fsname = `bt:${(opts.name ?? 'volume').replace(/[^A-Za-z0-9._-]/g, '_')}`
  const options = mountOptions(fsname, opts.readOnly === true)
  const fuse = new BtFuse(abs, ops, options, opts.debug === true)
  await withDeadline(
    abs,
    opts.timeoutMs ?? MOUNT_TIMEOUT_MS,
    async (late) => {
      await checkMountPoint(abs, opts.cleanStale !== false)
      if (late()) return
      if (!exactTimes)
        log(
          `fuse: the rebuilt fuse-native addon did not load (${addonProblem}); utimens can only set mtime to the access time given (fuse/native/build.sh)`,
        )
      await new Promise<void>((res, rej) => {
        fuse.mount((err) => {
          // Served after we gave up: nobody will use or unmount it, so detach it now.
          if (late()) {
            if (!err && !nativeUndone.has(fuse)) fuse.unmount(() => {})
            return
          }
          if (err) rej(new MountError('EFUSE', abs, `mount failed: ${err.message}`))
          else res()
        })
      })
    },
    async () => {
      if (!fuse._thread || !nativeMounted.has(fuse._thread)) return
      // The kernel mount exists but its INIT never reached JavaScript: detach it, and release
      // the addon's loop handle so this process can still exit.
      nativeUndone.add(fuse)
      await fusermountUnmount(abs, true).catch(() => {})
      try {
        binding.fuse_native_unmount(abs, fuse._thread)
      } catch {
        // nothing more to release
      }
    },
  )
  const unsubscribe = opts.subscribe?.(() => ops.invalidate())
  let mounted = true
  let unmounting: Promise<void> | undefined
  const unmount = async (lazy: boolean): Promise<void> => {
    await ops.flushAll()
    fuse.lazy = lazy
    await new Promise<void>((res, rej) => fuse.unmount((err) => (err ? rej(err) : res())))
    mounted = false
    unsubscribe?.()
    // After a lazy unmount, files still open keep being served until they close.
    if (!lazy) await ops.releaseAll()
  }
  return {
    dir: abs,
    name: opts.name,
    get stats() {
      return {
        ...ops.stats,
        readAheadHits: ops.readAheadStats.hits,
        prefetches: ops.readAheadStats.prefetches,
      }
    },
    get mounted() {
      return mounted
    },
    unmount(o = {}) {
      if (!mounted) return Promise.resolve()
      unmounting ??= unmount(o.lazy === true).finally(() => {
        unmounting = undefined
      })
      return unmounting
    },
  }
}
