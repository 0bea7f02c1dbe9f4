/**
 * Composition of a tree's Volume: one SQLite database holding the path tree
 * and the content store's records (so a commit is one transaction), a second
 * one holding the chunk bytes (disk volumes: `chunks.db`, committed before the
 * records that reference them), a staging area, and the retention ledger.
 * Time and ids come from the injected Runtime.
 */
import { mkdirSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import {
  createContentStore,
  MemoryChunkBackend,
  openStoreDatabase,
  SqliteChunkBackend,
} from '../store/index.js'
import type { ChunkBackend, ChunkId } from '../store/types.js'
import { AutomergePathTree } from '../sync/path-tree.js'
import type { GroupCommitOptions } from '../sync/redo.js'
import type { Runtime } from '../sync/runtime.js'
import { SqliteRetentionLedger } from './retention.js'
import { DiskStaging, MemoryStaging, SpillStaging, type Staging } from './staging.js'
import { type SpaceInfo, TreeVolume } from './volume.js'

/** What every volume needs to know about its replica. */
export interface VolumeIdentity {
  /** This node's id (recorded as the author of changes). */
  nodeId: string
  /** 32-byte content key of the tree. */
  key: Uint8Array
  runtime: Runtime
  /** Owner reported for every entry (default: this process's uid/gid). */
  uid?: number
  gid?: number
  /** Inodes per tree shard (tests use small values). */
  shardLimit?: number
  /** Fetch a chunk missing locally from peers (replication wires this in). */
  fetchMissing?: (id: ChunkId) => Promise<Uint8Array | undefined>
  /** Wrap the chunk backend the store uses (the daemon's cache of on-demand trees watches reads through it). */
  wrapBackend?: (backend: ChunkBackend) => ChunkBackend
}

export interface DiskVolumeOptions extends VolumeIdentity {
  /** Data directory: `tree.db` and `staging/` (branches over 1 MiB; smaller ones stay in memory) live here. */
  dir: string
  /** Space of the filesystem under `dir` (default: statfs of `dir`). */
  space?: () => SpaceInfo
  /**
   * Closes of small files are staged (a redo row in their transaction) and
   * journaled in groups (sync/redo.ts, docs/SEMANTICS.md "Durability");
   * `false` journals every close at once. Default: on, with its default timings.
   */
  groupCommit?: GroupCommitOptions | false
}

export interface MemoryVolumeOptions extends VolumeIdentity {
  /** Capacity reported by statfs (default 1 TiB); free = capacity - stored bytes. */
  capacity?: number
  /** Chunk backend to use (default: a fresh MemoryChunkBackend). */
  backend?: ChunkBackend
  /**
   * The open in-memory database to hold the volume (default: a fresh one). The
   * simulator passes its own, opened from the image it serialized at a crash;
   * the volume closes it.
   */
  database?: Database.Database
}

/** Database file of a volume inside its data directory. */
export const TREE_DB = 'tree.db'
/** Database file of a volume's chunk blobs (64 KiB pages), beside `TREE_DB`. */
export const CHUNKS_DB = 'chunks.db'
/** Directory of a volume's pack files (chunk bytes of large writes), beside `TREE_DB`. */
export const PACKS_DIR = 'packs'
/**
 * Blob batches up to this size (one small file's chunks) are stored in `TREE_DB` with the
 * records that reference them: one unsynced commit per close instead of a synced one per
 * database. The largest FastCDC chunk, so a file that fits one chunk always qualifies.
 */
export const INLINE_BLOB_BYTES = 256 * 1024

/** Open (creating if needed) the volume stored in `dir`. */
export async function openDiskVolume(o: DiskVolumeOptions): Promise<TreeVolume> {
  mkdirSync(o.dir, { recursive: true })
  // Metadata (path tree, store records) in 4 KiB pages: small commits ~1.6x faster than in the
  // 64 KiB pages the chunk blobs want (docs/PERFORMANCE.md). A tree.db created before the split
  // keeps its page size; its blobs move to chunks.db on open.
  const db = openStoreDatabase(join(o.dir, TREE_DB), { pageSize: 4096 })
  let chunkDb: Database.Database | undefined
  try {
    // close(2) is atomic and survives a crash of the process; fsync(2) makes it durable
    // (docs/SEMANTICS.md "Durability"): metadata commits without a WAL sync, and the blobs of
    // small writes go into the same WAL (inline), so they still precede their references after
    // a power loss. Larger blob batches commit synced in chunks.db (synchronous=FULL).
    db.pragma('synchronous = NORMAL')
    chunkDb = openStoreDatabase(join(o.dir, CHUNKS_DB), { chunksOnly: true })
    // Large durable batches (a file's chunks) go to pack files: ~3x the sustained write rate of
    // blobs in chunks.db (store/pack-files.ts). Received copies (lazy) still go to chunks.db.
    const backend = new SqliteChunkBackend(db, {
      chunkDb,
      inlineMax: INLINE_BLOB_BYTES,
      packDir: join(o.dir, PACKS_DIR),
    })
    const staging = new SpillStaging(DiskStaging.open(join(o.dir, 'staging')))
    const dir = o.dir
    const cdb = chunkDb
    return compose(
      o,
      db,
      backend,
      staging,
      o.space ?? (() => diskSpace(dir)),
      () => cdb.close(),
      () => backend.sync(),
      o.groupCommit === false ? undefined : (o.groupCommit ?? {}),
    )
  } catch (e) {
    chunkDb?.close()
    db.close()
    throw e
  }
}

/** A volume held entirely in memory (the simulator's and fast tests' variant). */
export async function openMemoryVolume(o: MemoryVolumeOptions): Promise<TreeVolume> {
  const db = o.database ?? new Database(':memory:')
  try {
    const capacity = o.capacity ?? 2 ** 40
    const backend = o.backend ?? new MemoryChunkBackend()
    let stored = () => 0
    const volume = compose(o, db, backend, new MemoryStaging(), () => ({
      total: capacity,
      free: Math.max(0, capacity - stored()),
    }))
    stored = () => volume.store.stats().storedBytes
    return volume
  } catch (e) {
    db.close()
    throw e
  }
}

function compose(
  o: VolumeIdentity,
  db: Database.Database,
  backend: ChunkBackend,
  staging: Staging,
  space: () => SpaceInfo,
  closeMore: () => void = () => {},
  sync: () => void = () => {},
  groupCommit?: GroupCommitOptions,
): TreeVolume {
  const store = createContentStore(o.wrapBackend ? o.wrapBackend(backend) : backend, {
    key: o.key,
    // Disk volumes chunk and seal streamed writes on a worker thread (store/seal-pool.ts); memory
    // volumes (the simulator) stay on one thread.
    offload: backend instanceof SqliteChunkBackend,
    ...(o.fetchMissing ? { fetchMissing: o.fetchMissing } : {}),
  })
  const tree = new AutomergePathTree({
    db,
    nodeId: o.nodeId,
    runtime: o.runtime,
    ...(o.shardLimit === undefined ? {} : { shardLimit: o.shardLimit }),
    ...(groupCommit ? { groupCommit } : {}),
  })
  return new TreeVolume({
    tree,
    store,
    staging,
    runtime: o.runtime,
    ledger: new SqliteRetentionLedger(db),
    owner: { uid: o.uid ?? process.getuid?.() ?? 0, gid: o.gid ?? process.getgid?.() ?? 0 },
    space,
    sync,
    countEntries: entryCounter(db),
    countFiles: fileCounter(db),
    onClose: () => {
      try {
        db.close()
      } finally {
        closeMore()
      }
    },
  })
}

function diskSpace(dir: string): SpaceInfo {
  const s = statfsSync(dir)
  return { total: s.blocks * s.bsize, free: s.bavail * s.bsize }
}

/**
 * Entry count for statfs from the path tree's materialized view table. The
 * view has no count method of its own; if its schema changes, statfs reports
 * 0 files rather than failing.
 */
function entryCounter(db: Database.Database): () => number {
  let stmt: Database.Statement | undefined
  return () => {
    try {
      stmt ??= db.prepare('SELECT count(*) FROM tree_entry')
      return Number(stmt.pluck().get() ?? 0)
    } catch {
      return 0
    }
  }
}

/** Live files and their bytes from the materialized view (zeros if its schema is not the expected one). */
function fileCounter(db: Database.Database): () => { files: number; bytes: number } {
  let stmt: Database.Statement | undefined
  return () => {
    try {
      stmt ??= db.prepare(
        "SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM tree_entry WHERE kind = 'file'",
      )
      const r = stmt.get() as { files: number; bytes: number }
      return { files: Number(r.files), bytes: Number(r.bytes) }
    } catch {
      return { files: 0, bytes: 0 }
    }
  }
}
