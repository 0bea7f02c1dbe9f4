/**
 * In-memory `ChunkBackend` for the simulator and tests. Transactions are real:
 * every mutation inside one records how to undo itself, and a throwing
 * transaction (or nested savepoint) is rolled back, like SQLite's.
 */
import { type ChunkBackend, type ChunkId, type RootRecord, StoreError } from './types.js'

export class MemoryChunkBackend implements ChunkBackend {
  private readonly chunks = new Map<ChunkId, Uint8Array>()
  private readonly refs = new Map<ChunkId, number>()
  private readonly nodes = new Map<ChunkId, ChunkId[]>()
  private readonly roots = new Map<ChunkId, RootRecord>()
  private storedBytes = 0
  private undo: (() => void)[] | undefined
  private closed = false

  has(id: ChunkId): boolean {
    this.check()
    return this.chunks.has(id)
  }

  get(id: ChunkId): Uint8Array | undefined {
    this.check()
    return this.chunks.get(id)
  }

  putMany(chunks: { id: ChunkId; data: Uint8Array }[]): void {
    this.transaction(() => {
      for (const c of chunks) if (!this.chunks.has(c.id)) this.setChunk(c.id, c.data.slice())
    })
  }

  replace(id: ChunkId, data: Uint8Array): void {
    this.transaction(() => this.setChunk(id, data.slice()))
  }

  deleteMany(ids: ChunkId[]): void {
    this.transaction(() => {
      for (const id of ids) this.setChunk(id, undefined)
    })
  }

  listChunks(): ChunkId[] {
    this.check()
    return [...this.chunks.keys()]
  }

  chunkStats(): { chunks: number; storedBytes: number } {
    this.check()
    return { chunks: this.chunks.size, storedBytes: this.storedBytes }
  }

  sizeOf(id: ChunkId): number | undefined {
    this.check()
    return this.chunks.get(id)?.length
  }

  addNode(id: ChunkId, children: ChunkId[]): boolean {
    return this.transaction(() => {
      if (this.nodes.has(id)) return false
      this.record(this.nodes, id, [...children])
      for (const c of children) this.record(this.refs, c, (this.refs.get(c) ?? 0) + 1)
      return true
    })
  }

  hasNode(id: ChunkId): boolean {
    this.check()
    return this.nodes.has(id)
  }

  nodeChildren(id: ChunkId): ChunkId[] | undefined {
    this.check()
    const c = this.nodes.get(id)
    return c ? [...c] : undefined
  }

  removeNode(id: ChunkId): ChunkId[] | undefined {
    return this.transaction(() => {
      const children = this.nodes.get(id)
      if (!children) return undefined
      this.record(this.nodes, id, undefined)
      for (const c of children) {
        const n = (this.refs.get(c) ?? 0) - 1
        this.record(this.refs, c, n > 0 ? n : undefined)
      }
      return children
    })
  }

  refCount(id: ChunkId): number {
    this.check()
    return this.refs.get(id) ?? 0
  }

  unreferencedNodes(): ChunkId[] {
    this.check()
    return [...this.nodes.keys()].filter((id) => !this.refs.has(id) && !this.rooted(id))
  }

  unreferencedChunks(): ChunkId[] {
    this.check()
    return [...this.chunks.keys()].filter(
      (id) => !this.refs.has(id) && !this.nodes.has(id) && !this.rooted(id),
    )
  }

  getRoot(id: ChunkId): RootRecord | undefined {
    this.check()
    const r = this.roots.get(id)
    return r && { ...r }
  }

  setRoot(root: RootRecord): void {
    this.transaction(() => this.record(this.roots, root.id, { ...root }))
  }

  deleteRoot(id: ChunkId): void {
    this.transaction(() => this.record(this.roots, id, undefined))
  }

  listRoots(): RootRecord[] {
    this.check()
    return [...this.roots.values()].map((r) => ({ ...r }))
  }

  rootStats(): { manifests: number; logicalBytes: number } {
    this.check()
    let manifests = 0
    let logicalBytes = 0
    for (const r of this.roots.values()) {
      if (r.refs > 0) {
        manifests++
        logicalBytes += r.size * r.refs
      }
    }
    return { manifests, logicalBytes }
  }

  transaction<T>(fn: () => T): T {
    this.check()
    const outer = this.undo
    const mine: (() => void)[] = []
    this.undo = mine
    try {
      const result = fn()
      // Committing a nested transaction hands its undo steps to the parent.
      if (outer) outer.push(...mine)
      return result
    } catch (err) {
      for (let i = mine.length - 1; i >= 0; i--) mine[i]!()
      throw err
    } finally {
      this.undo = outer
    }
  }

  close(): void {
    this.closed = true
  }

  /** A deep copy of every chunk and record (the simulator keeps one as a crashed node's disk). */
  clone(): MemoryChunkBackend {
    this.check()
    if (this.undo) throw new StoreError('EIO', 'cannot clone inside a transaction')
    const c = new MemoryChunkBackend()
    for (const [id, data] of this.chunks) c.chunks.set(id, data.slice())
    for (const [id, n] of this.refs) c.refs.set(id, n)
    for (const [id, kids] of this.nodes) c.nodes.set(id, [...kids])
    for (const [id, r] of this.roots) c.roots.set(id, { ...r })
    c.storedBytes = this.storedBytes
    return c
  }

  private rooted(id: ChunkId): boolean {
    return (this.roots.get(id)?.refs ?? 0) > 0
  }

  private setChunk(id: ChunkId, data: Uint8Array | undefined): void {
    const delta = (data?.length ?? 0) - (this.chunks.get(id)?.length ?? 0)
    this.record(this.chunks, id, data)
    this.storedBytes += delta
    this.undo?.push(() => {
      this.storedBytes -= delta
    })
  }

  /** Set or delete a map entry, remembering the previous state for rollback. */
  private record<V>(map: Map<ChunkId, V>, key: ChunkId, value: V | undefined): void {
    const had = map.has(key)
    const prev = map.get(key)
    this.undo?.push(() => {
      if (had) map.set(key, prev as V)
      else map.delete(key)
    })
    if (value === undefined) map.delete(key)
    else map.set(key, value)
  }

  private check(): void {
    if (this.closed) throw new StoreError('ECLOSED', 'chunk backend is closed')
  }
}
