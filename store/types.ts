/**
 * Contracts of the content store. `store/` imports nothing else of Blocktree's.
 *
 * Layers:
 * - `ChunkBackend`: raw, verified-by-id blob storage with reference counts
 *   (SQLite in `sqlite-backend.ts`, memory in `memory-backend.ts`).
 * - `ContentStore`: FastCDC chunking, deterministic XChaCha20-Poly1305
 *   encryption under a tree key, manifests, ranged reads, gc and verify, over
 *   any `ChunkBackend`.
 */

/** Hex string of a BLAKE3-256 hash of stored (encrypted) bytes: 64 lower-case hex chars. */
export type ChunkId = string

/**
 * A file's content: the id of its root manifest chunk and its plaintext length.
 * Stored in the path tree; equal content in one tree has an equal ref.
 */
export interface FileRef {
  /** Root manifest chunk id. */
  id: ChunkId
  /** Plaintext size in bytes. */
  size: number
}

/** A half-open byte range [start, end). */
export interface ByteRange {
  start: number
  end: number
}

/** Random-access plaintext source used by `rewrite` (e.g. a staged file). */
export interface RandomAccessSource {
  readonly size: number
  read(offset: number, length: number): Promise<Uint8Array>
}

/** Error codes thrown by the store. `EIO` for corrupt or missing data. */
export type StoreErrorCode = 'EIO' | 'ENOENT' | 'EINVAL' | 'ECLOSED'

export class StoreError extends Error {
  override name = 'StoreError'
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The chunk concerned, when there is one. */
    readonly chunkId?: ChunkId,
  ) {
    super(`${code}: ${message}`)
  }
}

export interface StoreStats {
  /** Distinct chunks held (data and manifest chunks). */
  chunks: number
  /** Bytes held for chunks (encrypted, as stored). */
  storedBytes: number
  /** Sum of plaintext sizes of all retained file references, counting each retain. */
  logicalBytes: number
  /** Manifests with a reference count above zero. */
  manifests: number
}

export interface VerifyReport {
  checked: number
  corrupt: ChunkId[]
  missing: ChunkId[]
}

export interface GcReport {
  deletedChunks: number
  freedBytes: number
}

/**
 * Raw chunk storage. Synchronous so that callers can group several calls in
 * one transaction (`transaction`) together with their own state (the node
 * runs the path tree and the store in one SQLite database per tree).
 */
export interface ChunkBackend {
  has(id: ChunkId): boolean
  /** Stored bytes, or undefined when absent. Does not verify. */
  get(id: ChunkId): Uint8Array | undefined
  /**
   * Insert chunks (ignoring ones already present); atomic as a batch.
   * `lazy`: the batch need not be durable at once (copies received from
   * peers: a power loss may lose the last such batches, which are fetched
   * again; a crash of the process loses nothing). Backends may ignore it.
   */
  putMany(chunks: { id: ChunkId; data: Uint8Array }[], options?: { lazy?: boolean }): void
  /**
   * Run fn atomically (nested calls join the outer transaction). `lazy`: the
   * commit of the metadata part need not be durable on its own — a crash may
   * lose it (atomically) unless a later durable commit follows. Only for
   * records a crash makes garbage anyway (the node records of a write not yet
   * retained); chunk bytes stay durable. Backends may ignore it.
   */
  transaction<T>(fn: () => T, options?: { lazy?: boolean }): T
  /**
   * Optional: `putMany` of a durable batch together with `then` (the caller's
   * records, e.g. `addNode`), committed in one lazy transaction once the
   * bytes are durable, with the bytes written off the event loop where the
   * backend can (pack files). Without it, callers run
   * `transaction(() => { putMany(chunks); then() }, { lazy: true })`.
   */
  putManyAsync?(chunks: { id: ChunkId; data: Uint8Array }[], then: () => void): Promise<void>
  close(): void

  /** Insert or overwrite one chunk (repairs a corrupt copy). */
  replace(id: ChunkId, data: Uint8Array): void
  /** Delete chunks; absent ids are ignored. */
  deleteMany(ids: ChunkId[]): void
  /** Every stored chunk id (a snapshot). */
  listChunks(): ChunkId[]
  /** Count and total stored bytes of all chunks (maintained, not computed by a scan). */
  chunkStats(): { chunks: number; storedBytes: number }
  /** Stored size of a chunk without reading it; undefined when absent. */
  sizeOf(id: ChunkId): number | undefined

  /**
   * Record a manifest node and count one reference on each child (with
   * multiplicity). No-op returning false if the node is already recorded.
   */
  addNode(id: ChunkId, children: ChunkId[]): boolean
  hasNode(id: ChunkId): boolean
  /** Children recorded for a manifest node (undefined if not recorded); lets verify see past a corrupt manifest. */
  nodeChildren(id: ChunkId): ChunkId[] | undefined
  /** Forget a node record, dropping one reference from each child; its children, or undefined if absent. */
  removeNode(id: ChunkId): ChunkId[] | undefined
  /** References to a chunk from recorded manifest nodes. */
  refCount(id: ChunkId): number
  /** Recorded nodes with no references that are not roots with refs > 0. */
  unreferencedNodes(): ChunkId[]
  /** Stored chunks with no references that are neither recorded nodes nor roots with refs > 0. */
  unreferencedChunks(): ChunkId[]

  /** Persisted file references (retains) by root manifest id. */
  getRoot(id: ChunkId): RootRecord | undefined
  setRoot(root: RootRecord): void
  deleteRoot(id: ChunkId): void
  listRoots(): RootRecord[]
  /** Roots with refs > 0 and the sum of size × refs over them. */
  rootStats(): { manifests: number; logicalBytes: number }
}

/**
 * A retained file reference. `complete` means every manifest node of the tree
 * is stored and recorded (so its chunks are reference-counted); roots received
 * from peers start incomplete and are completed by `gc`.
 */
export interface RootRecord {
  id: ChunkId
  size: number
  refs: number
  complete: boolean
}

export interface ContentStoreOptions {
  /** 32-byte tree content key; chunk encryption and nonce keys derive from it. */
  key: Uint8Array
  /**
   * Called when a chunk a read needs is missing locally; may fetch it from
   * peers (issue: replication). Default: none, the read fails with EIO.
   */
  fetchMissing?: (id: ChunkId) => Promise<Uint8Array | undefined>
}

export interface WriteOptions {
  /**
   * The source's pieces are given away: the store may take their buffers
   * over (detach them) instead of copying. Default false.
   */
  owned?: boolean
}

/**
 * The content store of one tree. Streaming: no method holds a whole file in
 * memory; ranged reads touch only the chunks they need.
 */
export interface ContentStore {
  /**
   * Chunk, encrypt and store a stream. Resolves once chunks and manifest are
   * durable (with a separate chunk database, the manifest's node records —
   * bookkeeping for gc — become durable with the next durable commit, e.g.
   * the `retain`; a crash before it makes the write an orphan anyway). The returned ref is protected from gc by an in-process lease
   * until `retain` or `drop` is called for it (a crash drops the lease, so gc
   * collects the orphan).
   */
  write(source: AsyncIterable<Uint8Array> | Uint8Array, options?: WriteOptions): Promise<FileRef>
  /**
   * New content built from `base` (may be null for a new file) and `source`,
   * where only the byte ranges in `dirty` (plus truncation/extension to
   * `source.size`) differ from `base`. Re-chunks only around the dirty ranges
   * (FastCDC resynchronises within a few chunks) and reuses base chunks
   * elsewhere. Same lease rule as `write`.
   */
  rewrite(base: FileRef | null, source: RandomAccessSource, dirty: ByteRange[]): Promise<FileRef>
  /** Plaintext bytes [offset, offset+length) clipped to the file size. EIO on corrupt/missing chunk. */
  read(ref: FileRef, offset: number, length: number): Promise<Uint8Array>
  /** Stream plaintext of [start, end) in pieces of at most a chunk. */
  stream(ref: FileRef, start?: number, end?: number): AsyncIterable<Uint8Array>
  /**
   * As `read`, as the list of pieces in order, without copying them out:
   * pieces may be views of the decrypted-chunk cache, so the caller copies
   * them at once and NEVER modifies them (the FUSE read path copies them
   * straight into the kernel's buffer).
   */
  readShared?(ref: FileRef, offset: number, length: number): Promise<Uint8Array[]>
  /** Persist one reference to ref (synchronous; joins the backend's open transaction). */
  retain(ref: FileRef): void
  /** Drop one persisted reference (synchronous). */
  release(ref: FileRef): void
  /** Drop the in-process lease of a ref returned by write/rewrite that will not be retained. */
  drop(ref: FileRef): void
  /** All chunk ids (data and manifest) reachable from ref. */
  chunkIds(ref: FileRef): Promise<ChunkId[]>
  /** Ids of chunks reachable from ref that are not held locally. */
  missing(ref: FileRef): Promise<ChunkId[]>
  /** Store a chunk received from elsewhere after checking BLAKE3(data) == id. Returns false if it did not match. */
  putVerified(id: ChunkId, data: Uint8Array): boolean
  /**
   * `putVerified` for many chunks with one commit (bulk replication): each
   * is checked against its id, those that match are stored, result[i] says
   * whether chunks[i] matched. Throws StoreError when storing fails (some
   * of the batch may be missing then: asking for them again is safe).
   */
  putVerifiedMany(chunks: readonly { id: ChunkId; data: Uint8Array }[]): boolean[]
  /** Stored bytes of a chunk (for serving to peers), verified; undefined when absent. */
  getStored(id: ChunkId): Uint8Array | undefined
  /** Delete chunks and manifests no longer referenced and not leased. */
  gc(): Promise<GcReport>
  /** Re-hash every stored chunk and check every retained manifest's chunks exist. */
  verify(): Promise<VerifyReport>
  stats(): StoreStats
  transaction<T>(fn: () => T): T
  /**
   * Keep up to `bytes` of decrypted data chunks in memory (0, the default:
   * none). For stores read over and over (a mounted tree); optional.
   */
  cacheChunks?(bytes: number): void
  close(): void
}
