/**
 * The cache of trees replicated on demand (role reader): chunks fetched from
 * peers stay local until the bytes of all such trees exceed the cache size
 * (`bt up --cache-size`, default 10 GiB); then the least recently used
 * chunks that no pin covers are deleted, down to 90% of the limit so that
 * eviction does not run on every fetch. Recency is tracked in memory by
 * watching the chunk backend (reads and stores); chunks not touched since
 * the daemon started count as the oldest. An evicted chunk is only "not
 * local": its manifest records stay, a later read fetches it again, and
 * `bt verify` reports it under `notLocal` rather than as missing.
 */
import type { ChunkBackend, ChunkId, ContentStore, FileRef } from '../store/types.js'

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

  constructor(public limit: number = DEFAULT_CACHE_BYTES) {}

  /** The backend a tree's store should use: the same one, with every read and store noted. */
  track(tree: string, backend: ChunkBackend): ChunkBackend {
    this.backends.set(tree, backend)
    const used = this.usesOf(tree)
    const touch = (id: ChunkId) => used.set(id, ++this.tick)
    return new Proxy(backend, {
      get: (target, prop, receiver) => {
        if (prop === 'get')
          return (id: ChunkId) => {
            const v = target.get(id)
            if (v) touch(id)
            return v
          }
        if (prop === 'putMany')
          return (chunks: { id: ChunkId; data: Uint8Array }[]) => {
            target.putMany(chunks)
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
      evicted += batch.length
    }
    return { before, after: this.size(trees), evicted }
  }

  forget(tree: string): void {
    this.backends.delete(tree)
    this.used.delete(tree)
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
