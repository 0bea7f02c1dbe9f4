/**
 * The daemon's mounts: trees served at directories through FUSE (`bt up
 * --mount`, `bt mount`, `bt unmount`). Each mount serves the same `TreeVolume`
 * object the local API uses, so a change through the CLI shows in the mount
 * and the other way round. On stop every mount commits what its open files
 * staged and is detached before the volumes close.
 */
import { isAbsolute, resolve } from 'node:path'
import {
  cleanStaleMount,
  type FuseMount,
  isFuse,
  MountError,
  mountAt,
  mountVolume,
  probe,
} from '../fuse/index.js'
import type { MountInfo } from './api-types.js'
import { NodeError } from './node-error.js'
import type { TreeVolume } from './volume.js'

/** Decrypted chunks kept in memory per mounted tree. */
export const CHUNK_CACHE_BYTES = 64 * 1024 * 1024

/** What `LocalNode` asks of the mounts of a running daemon (none without one). */
export interface MountService {
  mount(tree: string, dir: string): Promise<MountInfo>
  unmount(dir: string, opts?: { lazy?: boolean }): Promise<void>
  list(): MountInfo[]
  /** Commit open files, detach every mount (lazily), forget them. */
  closeAll(): Promise<void>
}

export interface MountManagerInit {
  /** The volume of a tree (opened on first use). */
  volume: (tree: string) => Promise<TreeVolume>
  log: (line: string) => void
  /** Wall clock, ms (the daemon is the composition root). */
  now: () => number
  /** Whether this node may only read a tree (a reader): its mounts are read-only. */
  readOnly?: (tree: string) => boolean
}

interface Entry {
  tree: string
  mount: FuseMount
  since: number
}

/** The mount error as the node reports it: EMOUNT about the directory. */
function mountError(dir: string, message: string): NodeError {
  return new NodeError('EMOUNT', dir, message)
}

export class MountManager implements MountService {
  private readonly mounts = new Map<string, Entry>()
  /** Directories being mounted or unmounted right now. */
  private readonly busy = new Set<string>()

  constructor(private readonly c: MountManagerInit) {}

  async mount(tree: string, dir: string): Promise<MountInfo> {
    if (!isAbsolute(dir)) throw mountError(dir, 'the mount point must be an absolute path')
    const abs = resolve(dir)
    const had = this.mounts.get(abs)
    if (had) throw mountError(abs, `already mounted (tree ${had.tree})`)
    if (this.busy.has(abs)) throw mountError(abs, 'being mounted or unmounted right now')
    // Mounting runs a synchronous mount(2) on the event loop: a mount point inside one of
    // our own mounts would need that same event loop to answer the path lookup (deadlock).
    for (const [d, e] of this.mounts) {
      if (abs.startsWith(`${d}/`)) throw mountError(abs, `inside the mount of tree ${e.tree} at ${d}`)
    }
    this.busy.add(abs)
    try {
      const volume = await this.c.volume(tree)
      // Programs re-read hot files through a mount (each open drops the kernel's page cache).
      volume.store.cacheChunks?.(CHUNK_CACHE_BYTES)
      if (await cleanStaleMount(abs).catch(() => false))
        this.c.log(`mount ${abs}: cleaned a stale FUSE mount left by a process that died`)
      let mount: FuseMount
      try {
        mount = await mountVolume(volume, abs, {
          name: tree,
          log: this.c.log,
          now: this.c.now,
          subscribe: (listener) => volume.tree.onChange(() => listener()),
          cleanStale: false,
          // A reader's changes would never be accepted by the other replicas.
          readOnly: this.c.readOnly?.(tree) === true,
        })
      } catch (e) {
        if (e instanceof MountError) throw mountError(abs, e.message.slice(abs.length + 2))
        throw e
      }
      const entry: Entry = { tree, mount, since: this.c.now() }
      this.mounts.set(abs, entry)
      this.c.log(`mounted tree ${tree} at ${abs}`)
      return info(abs, entry)
    } finally {
      this.busy.delete(abs)
    }
  }

  async unmount(dir: string, opts: { lazy?: boolean } = {}): Promise<void> {
    if (!isAbsolute(dir)) throw mountError(dir, 'the mount point must be an absolute path')
    const abs = resolve(dir)
    const entry = this.mounts.get(abs)
    if (!entry) {
      // Not ours: a dead mount (its server died) is cleaned all the same.
      if (await cleanStaleMount(abs)) {
        this.c.log(`unmount ${abs}: cleaned a stale FUSE mount`)
        return
      }
      const m = await mountAt(abs)
      if (m && isFuse(m)) {
        const state = await probe(abs)
        throw mountError(
          abs,
          `mounted by another process (${m.fstype} ${m.source}${state === 'ok' ? '' : `, ${state}`})`,
        )
      }
      throw mountError(abs, 'not mounted')
    }
    if (this.busy.has(abs)) throw mountError(abs, 'being mounted or unmounted right now')
    this.busy.add(abs)
    try {
      await entry.mount.unmount({ lazy: opts.lazy === true })
      this.mounts.delete(abs)
      this.c.log(`unmounted ${abs} (tree ${entry.tree})${opts.lazy ? ', lazily' : ''}`)
    } catch (e) {
      if (e instanceof MountError) throw mountError(abs, e.message.slice(abs.length + 2))
      throw e
    } finally {
      this.busy.delete(abs)
    }
  }

  list(): MountInfo[] {
    return [...this.mounts].map(([dir, e]) => info(dir, e))
  }

  async closeAll(): Promise<void> {
    for (const [dir, e] of [...this.mounts]) {
      try {
        await e.mount.unmount({ lazy: true })
        this.c.log(`unmounted ${dir} (tree ${e.tree})`)
      } catch (err) {
        this.c.log(`unmounting ${dir} failed: ${(err as Error).message}`)
      }
      this.mounts.delete(dir)
    }
  }
}

function info(dir: string, e: Entry): MountInfo {
  const s = e.mount.stats
  return { tree: e.tree, dir, since: e.since, openFiles: s.openHandles, ops: s.ops }
}
