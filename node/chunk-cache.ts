/**
 * The cache of trees replicated on demand (role reader): chunks fetched from
 * peers stay local until the bytes of all such trees exceed the cache size
 * (`bt up --cache-size`, default 10 GiB); then the least recently used
 * chunks that no pin covers are deleted, down to 90% of the limit so that
 * eviction does not run on every fetch. Recency is tracked in memory by
 * watching the chunk backend (reads and stores) and, with `persist`, saved
 * for on-demand trees in batches at each `enforce` and at `flush` (node.db
 * `chunk_use`, node/chunk-recency.ts), so a restart keeps the order; chunks
 * never used since they were persisted count as the oldest. An evicted chunk is only "not
 * local": its manifest records stay, a later read fetches it again, and
 * `bt verify` reports it under `notLocal` rather than as missing.
 */
import type { ChunkBackend, ChunkId, ContentStore, FileRef } from '../store/types.js'
import type { RecencyStore } from './chunk-recency.js'

export const DEFAULT_CACHE_BYTES = 10 * 2 ** 30
/** Eviction stops once the cached bytes are at or below this share of the limit. */
const LOW_WATER = 0.9
const DELETE_BATCH = 256

/** One tree as the cache sees it. */
export interface CachedTree {
  id: string
  /** Only 'demand' trees are ever evicted. */
  demand: boolean
  store: ContentStore
  /** Files whose chunks must stay (pins). */
  pinned: () => Iterable<FileRef>
}

export interface EvictionReport {
  /** Bytes of on-demand trees' chunks before eviction. */
  before: number
  after: number
  evicted: number
}

export class ChunkCache {
  private readonly backends = new Map<string, ChunkBackend>()
  /** Last use of a chunk, per tree (a counter, not a clock: only the order matters). */
  private readonly used = new Map<string, Map<ChunkId, number>>()
  private tick = 0
  private store: RecencyStore | undefined
  /** Chunks used since the last save, per tree. */
  private readonly dirty = new Map<string, Set<ChunkId>>()
  /** Trees the last `enforce` saw as on-demand (only their recency is saved). */
  private demand = new Set<string>()
  /** Called on every noted use (the daemon schedules an `enforce`, which saves). */
  onUse: (() => void) | undefined

  constructor(public limit: number = DEFAULT_CACHE_BYTES) {}

  /**
   * Keep recency in `store`: what it holds is loaded (for trees tracked now
   * and later) and counts as older than any use noted in this process.
   */
  persist(store: RecencyStore): void {
    this.store = store
    const base = store.highest()
    for (const m of this.used.values()) for (const [id, n] of m) m.set(id, base + n)
    this.tick += base
    for (const tree of this.backends.keys()) this.loadUses(tree)
  }

  /** Save the recency of on-demand trees' chunks used since the last save. */
  flush(): void {
    const store = this.store
    for (const [tree, ids] of this.dirty) {
      if (store && this.demand.has(tree)) {
        const used = this.usesOf(tree)
        store.save(
          tree,
          [...ids].flatMap((id): [ChunkId, number][] => {
            const n = used.get(id)
            return n === undefined ? [] : [[id, n]]
          }),
        )
      }
    }
    this.dirty.clear()
  }

  /** The backend a tree's store should use: the same one, with every read and store noted. */
  track(tree: string, backend: ChunkBackend): ChunkBackend {
    this.backends.set(tree, backend)
    if (this.store) this.loadUses(tree)
    const used = this.usesOf(tree)
    const touch = (id: ChunkId) => {
      used.set(id, ++this.tick)
      if (this.store) {
        const d = this.dirty.get(tree)
        if (d) d.add(id)
        else this.dirty.set(tree, new Set([id]))
      }
      this.onUse?.()
    }
    return new Proxy(backend, {
      get: (target, prop, receiver) => {
        if (prop === 'get')
          return (id: ChunkId) => {
            const v = target.get(id)
            if (v) touch(id)
            return v
          }
        if (prop === 'putMany')
          return (chunks: { id: ChunkId; data: Uint8Array }[], options?: { lazy?: boolean }) => {
            target.putMany(chunks, options)
            for (const c of chunks) touch(c.id)
          }
        if (prop === 'putManyAsync' && target.putManyAsync)
          // A streamed write's batches (pack files): counted as used like putMany's.
          return async (chunks: { id: ChunkId; data: Uint8Array }[], then: () => void) => {
            await target.putManyAsync!(chunks, then)
            for (const c of chunks) touch(c.id)
          }
        const v = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
  }

  /** Stored bytes of the on-demand trees among `trees`. */
  size(trees: CachedTree[]): number {
    let n = 0
    for (const t of trees) if (t.demand) n += this.backends.get(t.id)?.chunkStats().storedBytes ?? 0
    return n
  }

  /** Evict least recently used, unpinned chunks of on-demand trees until the cache fits. */
  async enforce(trees: CachedTree[]): Promise<EvictionReport> {
    this.demand = new Set(trees.filter((t) => t.demand).map((t) => t.id))
    this.flush()
    const before = this.size(trees)
    if (before <= this.limit) return { before, after: before, evicted: 0 }
    const target = Math.floor(this.limit * LOW_WATER)
    const candidates: { tree: string; id: ChunkId; used: number; backend: ChunkBackend }[] = []
    for (const t of trees) {
      const backend = this.backends.get(t.id)
      if (!t.demand || !backend) continue
      const keep = await pinnedChunks(t)
      const used = this.usesOf(t.id)
      for (const id of backend.listChunks())
        if (!keep.has(id)) candidates.push({ tree: t.id, id, used: used.get(id) ?? 0, backend })
    }
    candidates.sort((a, b) => a.used - b.used || (a.id < b.id ? -1 : 1))
    let size = before
    let evicted = 0
    for (let i = 0; i < candidates.length && size > target; ) {
      const batch: typeof candidates = []
      while (i < candidates.length && batch.length < DELETE_BATCH && size > target) {
        const c = candidates[i++]!
        const bytes = c.backend.sizeOf(c.id)
        if (bytes === undefined) continue
        batch.push(c)
        size -= bytes
      }
      const byBackend = new Map<ChunkBackend, ChunkId[]>()
      for (const c of batch) {
        const list = byBackend.get(c.backend) ?? []
        list.push(c.id)
        byBackend.set(c.backend, list)
        this.usesOf(c.tree).delete(c.id)
      }
      for (const [backend, ids] of byBackend) backend.deleteMany(ids)
      for (const c of batch) this.dirty.get(c.tree)?.delete(c.id)
      if (this.store) {
        const byTree = new Map<string, ChunkId[]>()
        for (const c of batch) byTree.set(c.tree, [...(byTree.get(c.tree) ?? []), c.id])
        for (const [tree, ids] of byTree) this.store.remove(tree, ids)
      }
      evicted += batch.length
    }
    return { before, after: this.size(trees), evicted }
  }

  forget(tree: string): void {
    this.backends.delete(tree)
    this.used.delete(tree)
    this.dirty.delete(tree)
    this.store?.remove(tree)
  }

  /** Merge a tree's persisted uses under those noted in this process. */
  private loadUses(tree: string): void {
    const used = this.usesOf(tree)
    for (const [id, n] of this.store?.load(tree) ?? []) if (!used.has(id)) used.set(id, n)
  }

  private usesOf(tree: string): Map<ChunkId, number> {
    let m = this.used.get(tree)
    if (!m) {
      m = new Map()
      this.used.set(tree, m)
    }
    return m
  }
}

/** Every chunk id reachable from the pinned files of a tree (those whose manifests are local). */
async function pinnedChunks(t: CachedTree): Promise<Set<ChunkId>> {
  const keep = new Set<ChunkId>()
  for (const ref of t.pinned()) {
    try {
      for (const id of await t.store.chunkIds(ref)) keep.add(id)
    } catch {
      // A pinned file whose manifest is not local yet: nothing of it is cached to protect.
      keep.add(ref.id)
    }
  }
  return keep
}
