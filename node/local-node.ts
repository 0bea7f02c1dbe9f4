/**
 * `LocalNode`: a data dir opened in this process, under its lock. It
 * implements `NodeApi` over the tree registry and one disk `TreeVolume` per
 * tree (opened on first use). The daemon serves exactly this object over its
 * socket; a CLI command with no daemon running opens one for itself.
 */
import { join } from 'node:path'
import { type Runtime, systemRuntime } from '../sync/runtime.js'
import { type Conflict, type HistoryEntry, ROOT_ID } from '../sync/types.js'
import type { UnprotectOptions } from '../tpm/types.js'
import type {
  DfReport,
  GcResult,
  KeyProtection,
  MountInfo,
  NodeApi,
  NodeStatus,
  ReadOptions,
  RemoveOptions,
  TreeInfo,
  TreeUsage,
  TreeVerify,
  VerifyResult,
} from './api-types.js'
import { FsError } from './errors.js'
import { HOME_FILES } from './home.js'
import { type Identity, loadIdentity } from './identity.js'
import { settleRotation } from './keys.js'
import { HomeLock } from './lock.js'
import type { MountService } from './mounts.js'
import { NodeError } from './node-error.js'
import { NodeSync } from './node-sync.js'
import { openDiskVolume } from './open-tree.js'
import type {
  InviteOptions,
  InviteResult,
  JoinOptions,
  MemberInfo,
  PeerReport,
  PinInfo,
  SyncStatusReport,
} from './sync-api.js'
import { type TreeRecord, TreeRegistry } from './trees.js'
import { BT_VERSION } from './version.js'
import type { TreeVolume } from './volume.js'
import type { Attr, DirEntry, WriteFileOptions } from './volume-types.js'

export interface LocalNodeOptions {
  home: string
  /** Clock, randomness and timers (default: the system's). */
  runtime?: Runtime
  /** Passphrase source or TPM for unlocking the key file. */
  unlock?: UnprotectOptions
  /** How long to wait for the data-dir lock (default 0: fail at once with ELOCKED). */
  lockWaitMs?: number
}

/** Open the data dir of `o.home` under its lock. */
export async function openLocalNode(o: LocalNodeOptions): Promise<LocalNode> {
  const lock = await HomeLock.acquire(o.home, o.lockWaitMs === undefined ? {} : { waitMs: o.lockWaitMs })
  try {
    settleRotation(o.home)
    const identity = await loadIdentity(o.home, o.unlock)
    const runtime = o.runtime ?? systemRuntime()
    const registry = new TreeRegistry(join(o.home, HOME_FILES.nodeDb), identity.wrapKey, runtime.random)
    return new LocalNode(o.home, identity, registry, lock, runtime)
  } catch (e) {
    lock.release()
    throw e
  }
}

const RM_PAGE = 256
const WALK_PAGE = 1000

export class LocalNode implements NodeApi {
  readonly nodeId: string
  readonly keyProtection: KeyProtection
  /** Shown on every start (e.g. the key is stored unprotected). */
  readonly warning: string | undefined
  private readonly volumes = new Map<string, Promise<TreeVolume>>()
  private daemon: { pid: number; socket: string } | undefined
  private readonly inflight = new Set<Promise<unknown>>()
  private closing: Promise<void> | undefined
  /** Replication state in node.db (members, invites, pins, peers) and the SyncApi calls: node/node-sync.ts. */
  readonly sync: NodeSync

  constructor(
    readonly home: string,
    identity: Identity,
    private readonly registry: TreeRegistry,
    private readonly lock: HomeLock,
    private readonly runtime: Runtime,
  ) {
    this.nodeId = identity.nodeId
    this.keyProtection = identity.protection
    this.warning = identity.warning
    this.sync = new NodeSync({
      registry,
      nodeId: identity.nodeId,
      seed: identity.seed,
      wrapKey: identity.wrapKey,
      runtime,
      volume: (name) => this.volume(name),
    })
  }

  private mountService: MountService | undefined

  /** The daemon hands over its mounts (only a running daemon mounts trees). */
  setMounts(m: MountService | undefined): void {
    this.mountService = m
  }

  /** The daemon sets this once it serves, so `status()` reports it. */
  setDaemon(info: { pid: number; socket: string } | undefined): void {
    this.daemon = info
  }

  /** A tree's registry record, with its content key (replication composes replicas from it). */
  registryRecord(name: string): TreeRecord {
    this.checkOpen()
    return this.registry.get(name)
  }

  /** The volume of a tree, opened on first use. */
  volume(tree: string): Promise<TreeVolume> {
    this.checkOpen()
    let v = this.volumes.get(tree)
    if (!v) {
      v = this.openVolume(tree)
      this.volumes.set(tree, v)
      v.catch(() => this.volumes.delete(tree))
    }
    return v
  }

  async status(): Promise<NodeStatus> {
    const s: NodeStatus = {
      nodeId: this.nodeId,
      home: this.home,
      running: this.daemon !== undefined,
      keyProtection: this.keyProtection,
      version: BT_VERSION,
      trees: this.registry.list(),
    }
    // Always present (empty without a daemon), so the shape is the same in process and through one.
    s.mounts = this.mountService?.list() ?? []
    if (this.daemon) {
      s.pid = this.daemon.pid
      s.socket = this.daemon.socket
    }
    return s
  }

  treeCreate(name: string): Promise<TreeInfo> {
    return this.op(async () => {
      const rec = this.registry.add(name, this.runtime.clock.now())
      const { key: _key, ...info } = rec
      this.sync.membership(rec) // the genesis entry: this node is the tree's first admin
      await this.volume(name)
      await this.sync.treeAdded(name)
      return info
    })
  }

  async treeList(): Promise<TreeInfo[]> {
    this.checkOpen()
    return this.registry.list()
  }

  stat(tree: string, path: string): Promise<Attr> {
    return this.op(async () => (await this.volume(tree)).lookup(path))
  }

  ls(
    tree: string,
    path: string,
    cursor?: string,
    limit?: number,
  ): Promise<{ entries: DirEntry[]; cursor?: string }> {
    return this.op(async () => (await this.volume(tree)).readdir(path, cursor, limit))
  }

  mkdir(tree: string, path: string, opts: { parents?: boolean; mode?: number } = {}): Promise<Attr> {
    return this.durably(tree, (v) =>
      opts.parents ? v.mkdirp(path, opts.mode ?? 0o755) : v.mkdir(path, opts.mode ?? 0o755),
    )
  }

  mv(tree: string, from: string, to: string): Promise<void> {
    return this.durably(tree, (v) => v.rename(from, to))
  }

  rm(tree: string, path: string, opts: RemoveOptions = {}): Promise<void> {
    return this.durably(tree, async (v) => {
      const a = await v.lookup(path)
      if (a.kind !== 'dir') return v.unlink(path)
      if (!opts.recursive) throw new FsError('EISDIR', path, 'use -r to remove a directory')
      await removeTree(v, path)
    })
  }

  symlink(tree: string, target: string, path: string): Promise<Attr> {
    return this.durably(tree, (v) => v.symlink(target, path))
  }

  readlink(tree: string, path: string): Promise<string> {
    return this.op(async () => (await this.volume(tree)).readlink(path))
  }

  writeFile(
    tree: string,
    path: string,
    source: AsyncIterable<Uint8Array>,
    opts?: WriteFileOptions,
  ): Promise<Attr> {
    return this.op(async () => {
      this.checkWritable(tree)
      return (await this.volume(tree)).writeFile(path, source, opts)
    })
  }

  readFile(tree: string, path: string, opts: ReadOptions = {}): AsyncIterable<Uint8Array> {
    const self = this
    return {
      async *[Symbol.asyncIterator]() {
        self.checkOpen()
        const v = await self.volume(tree)
        if (opts.at !== undefined) {
          if (opts.start !== undefined || opts.end !== undefined)
            throw new FsError('EINVAL', path, 'a byte range cannot be combined with a version')
          yield* v.readAt(path, opts.at)
        } else {
          yield* v.readStream(path, opts.start, opts.end)
        }
      },
    }
  }

  log(tree: string, path?: string, limit?: number): Promise<HistoryEntry[]> {
    return this.op(async () => (await this.volume(tree)).history(path, limit))
  }

  conflicts(tree: string): Promise<Conflict[]> {
    return this.op(async () => (await this.volume(tree)).conflicts())
  }

  resolve(tree: string, path: string, keepVersion: string): Promise<void> {
    return this.durably(tree, (v) => v.resolve(path, keepVersion))
  }

  df(): Promise<DfReport> {
    return this.op(async () => {
      const trees: TreeUsage[] = []
      for (const t of this.registry.list()) {
        const v = await this.volume(t.name)
        const s = v.store.stats()
        const u = v.usage()
        trees.push({
          name: t.name,
          id: t.id,
          chunks: s.chunks,
          storedBytes: s.storedBytes,
          logicalBytes: u.bytes,
          files: u.files,
          dedupRatio: ratio(u.bytes, s.storedBytes),
        })
      }
      const sum = (f: (t: TreeUsage) => number) => trees.reduce((n, t) => n + f(t), 0)
      const logicalBytes = sum((t) => t.logicalBytes)
      const storedBytes = sum((t) => t.storedBytes)
      return {
        chunks: sum((t) => t.chunks),
        storedBytes,
        logicalBytes,
        dedupRatio: ratio(logicalBytes, storedBytes),
        trees,
      }
    })
  }

  verify(): Promise<VerifyResult> {
    return this.op(async () => {
      const trees: TreeVerify[] = []
      for (const t of this.registry.list()) {
        const v = await this.volume(t.name)
        const r = await v.verify()
        // A tree read on demand holds only what was read or pinned: absent chunks are remote, not damage.
        const onDemand = this.sync.policyOf(t.name) === 'demand'
        const missing = onDemand ? [] : r.missing
        const bad = new Set([...r.corrupt, ...missing])
        const row: TreeVerify = {
          name: t.name,
          id: t.id,
          checked: r.checked,
          corrupt: r.corrupt,
          missing,
          damagedPaths: bad.size ? await damagedPaths(v, bad) : [],
        }
        if (onDemand) row.notLocal = r.missing.length
        trees.push(row)
      }
      return { ok: trees.every((t) => t.corrupt.length === 0 && t.missing.length === 0), trees }
    })
  }

  gc(): Promise<GcResult> {
    return this.op(async () => {
      const trees: GcResult['trees'] = []
      for (const t of this.registry.list()) {
        const r = await (await this.volume(t.name)).gc()
        trees.push({ name: t.name, id: t.id, ...r })
      }
      return { trees }
    })
  }

  invite(tree: string, opts?: InviteOptions): Promise<InviteResult> {
    return this.op(() => this.sync.invite(tree, opts))
  }
  join(ticket: string, opts?: JoinOptions): Promise<TreeInfo> {
    return this.op(() => this.sync.join(ticket, opts))
  }
  members(tree: string): Promise<MemberInfo[]> {
    return this.op(() => this.sync.members(tree))
  }
  removeMember(tree: string, node: string): Promise<void> {
    return this.op(() => this.sync.removeMember(tree, node))
  }
  peers(): Promise<PeerReport[]> {
    return this.op(() => this.sync.peers())
  }
  syncStatus(): Promise<SyncStatusReport> {
    return this.op(() => this.sync.syncStatus())
  }
  pin(tree: string, path: string): Promise<boolean> {
    return this.op(() => this.sync.pin(tree, path))
  }
  unpin(tree: string, path: string): Promise<boolean> {
    return this.op(() => this.sync.unpin(tree, path))
  }
  pins(tree: string): Promise<PinInfo[]> {
    return this.op(() => this.sync.pins(tree))
  }

  mount(tree: string, dir: string): Promise<MountInfo> {
    return this.op(async () => {
      if (!this.mountService)
        throw new NodeError(
          'EMOUNT',
          dir,
          'only a running node mounts trees: start one with `bt up --detach`',
        )
      return this.mountService.mount(tree, dir)
    })
  }

  unmount(dir: string, opts?: { lazy?: boolean }): Promise<void> {
    return this.op(async () => {
      if (!this.mountService)
        throw new NodeError(
          'EMOUNT',
          dir,
          'no running node serves mounts here (bt unmount cleans stale ones)',
        )
      return this.mountService.unmount(dir, opts)
    })
  }

  /** Wait for in-flight calls, close every volume, release the lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    // Mounts go first: they commit what open files staged, and must be detached before volumes close.
    await this.mountService?.closeAll()
    await Promise.allSettled([...this.inflight])
    let error: unknown
    for (const v of this.volumes.values()) {
      try {
        await (await v).close()
      } catch (e) {
        error ??= e
      }
    }
    this.volumes.clear()
    try {
      this.registry.close()
    } finally {
      this.lock.release()
    }
    if (error) throw error
  }

  private async openVolume(name: string): Promise<TreeVolume> {
    const t = this.registry.get(name)
    const dir = join(this.home, HOME_FILES.trees, t.id)
    try {
      return await openDiskVolume({
        dir,
        nodeId: this.nodeId,
        key: t.key,
        runtime: this.runtime,
        // A read of a chunk not held here asks peers (only while the daemon replicates; else EIO).
        fetchMissing: (id) => this.sync.fetchChunk(t.id, id),
        wrapBackend: (b) => this.sync.cache.track(t.id, b),
      })
    } catch (e) {
      throw new NodeError('ECORRUPT', name, `tree data in ${dir} is unreadable: ${(e as Error).message}`)
    }
  }

  /** Whether this node only reads `tree` (a reader): the API refuses its changes and mounts are read-only. */
  isReader(tree: string): boolean {
    return this.sync.roleOf(this.registry.get(tree)) === 'reader'
  }

  /** Readers receive a tree but may not change it: their changes would never be accepted by the others. */
  private checkWritable(tree: string): void {
    if (this.isReader(tree))
      throw new FsError('EROFS', undefined, `this node is a reader of ${tree}: it cannot change it`)
  }

  private checkOpen(): void {
    if (this.closing) throw new NodeError('ECLOSED', this.home, 'the node is shutting down')
  }

  /** A namespace change through the API: acknowledged once durable (the Volume's own commits need only survive a crash of the process). */
  private durably<T>(tree: string, fn: (v: TreeVolume) => Promise<T>): Promise<T> {
    return this.op(async () => {
      this.checkWritable(tree)
      const v = await this.volume(tree)
      const r = await fn(v)
      await v.sync()
      return r
    })
  }

  /** Run one API call, tracked so that close() lets it finish. */
  private op<T>(fn: () => Promise<T>): Promise<T> {
    try {
      this.checkOpen()
    } catch (e) {
      return Promise.reject(e)
    }
    const p = fn()
    this.inflight.add(p)
    const done = () => this.inflight.delete(p)
    p.then(done, done)
    return p
  }
}

function ratio(logical: number, stored: number): number {
  return stored > 0 ? Math.round((logical / stored) * 1000) / 1000 : 1
}

function child(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

/** `rm -r`: depth first; re-reads the first page each time since entries vanish as we go. */
async function removeTree(v: TreeVolume, dir: string): Promise<void> {
  for (;;) {
    const { entries } = await v.readdir(dir, undefined, RM_PAGE)
    if (entries.length === 0) break
    for (const e of entries) {
      const p = child(dir, e.name)
      if (e.attr.kind === 'dir') await removeTree(v, p)
      else await v.unlink(p)
    }
  }
  await v.rmdir(dir)
}

/** Paths of files whose content references a chunk in `bad`. */
async function damagedPaths(v: TreeVolume, bad: Set<string>): Promise<string[]> {
  const out: string[] = []
  const walk = async (ino: string, path: string): Promise<void> => {
    let after: string | undefined
    for (;;) {
      const page = v.tree.readdir(ino, after, WALK_PAGE)
      for (const e of page) {
        const p = child(path, e.name)
        if (e.kind === 'dir') await walk(e.ino, p)
        else if (e.content) {
          // A manifest that cannot be walked is itself damaged.
          const ids = await v.store.chunkIds(e.content.ref).catch(() => undefined)
          if (!ids || ids.some((id) => bad.has(id))) out.push(p)
        }
      }
      if (page.length < WALK_PAGE) break
      after = page[page.length - 1]!.name
    }
  }
  await walk(ROOT_ID, '/')
  return out
}
