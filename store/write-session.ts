/**
 * One streaming write: seals chunks and manifest nodes, batches them into
 * transactions of a few MiB (so memory stays bounded and each commit is
 * crash-atomic), records manifest nodes for reference counting, and leases
 * every id it touches so a concurrent gc cannot collect them before the
 * result is retained.
 */
import { type ChunkCipher, chunkIdOf } from './crypto.js'
import { TreeBuilder, type TreeShape } from './manifest.js'
import type { ChunkBackend, ChunkId, FileRef } from './types.js'

/** In-process protection from gc, counted so overlapping writes can share ids. */
export class Leases {
  private readonly counts = new Map<ChunkId, number>()

  add(id: ChunkId): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1)
  }

  remove(id: ChunkId): void {
    const n = (this.counts.get(id) ?? 0) - 1
    if (n > 0) this.counts.set(id, n)
    else this.counts.delete(id)
  }

  has(id: ChunkId): boolean {
    return this.counts.has(id)
  }
}

export interface WriteContext {
  backend: ChunkBackend
  cipher: ChunkCipher
  leases: Leases
  /** Flush a batch once its stored bytes reach this (default 8 MiB). */
  batchBytes?: number
  treeShape?: TreeShape
  /**
   * Store each full batch through `backend.putManyAsync` (when it has one) while the next one
   * fills; the caller then awaits `ready()` between inputs (that bounds memory to about two
   * batches) and `finishAsync()`.
   */
  overlap?: boolean
}

export class WriteSession {
  private batch: { id: ChunkId; data: Uint8Array }[] = []
  private batchSize = 0
  private nodes: { id: ChunkId; children: ChunkId[] }[] = []
  /** This session's outstanding leases, counted per occurrence. */
  private readonly mine = new Map<ChunkId, number>()
  private readonly builder: TreeBuilder
  private readonly limit: number
  private ended = false
  /** The batch being stored by `putManyAsync` (at most one at a time, in order). */
  private inflight: Promise<void> | undefined

  constructor(private readonly ctx: WriteContext) {
    this.limit = ctx.batchBytes ?? 8 * 1024 * 1024
    this.builder = new TreeBuilder((_level, plain, children) => {
      const id = this.put(plain)
      this.nodes.push({ id, children: [...children] })
      return id
    }, ctx.treeShape)
  }

  /** Plaintext bytes added so far. */
  get size(): number {
    return this.builder.size
  }

  /** Seal and append a new data chunk (consumed at once: chunker views may be passed). */
  addData(plain: Uint8Array): ChunkId {
    const id = this.put(plain)
    this.builder.add(id, plain.length)
    return id
  }

  /** Append a data chunk sealed elsewhere (seal-pool.ts): `data` is its stored bytes, owned by the session. */
  addSealed(id: ChunkId, data: Uint8Array, plainLength: number): void {
    this.stage(id, data)
    this.builder.add(id, plainLength)
  }

  /** Protect an id from gc until this session ends, without adding it (base chunks a rewrite may reuse). */
  hold(id: ChunkId): void {
    this.lease(id)
  }

  /** Append a chunk already stored (reused from a base manifest). */
  addExisting(id: ChunkId, length: number): void {
    this.lease(id)
    this.builder.add(id, length)
  }

  /**
   * Finish the manifest and commit everything. The result keeps one lease
   * (released by the store's retain or drop); the in-flight leases go.
   */
  finish(): FileRef {
    if (this.inflight) throw new Error('WriteSession: finish() with a batch in flight; use finishAsync()')
    const ref = this.builder.finish()
    this.flush()
    this.ctx.leases.add(ref.id)
    this.end()
    return ref
  }

  /** `finish` for sessions with `overlap`: waits for the batches in flight. */
  async finishAsync(): Promise<FileRef> {
    const ref = this.builder.finish()
    while (this.inflight) await this.inflight
    this.flush()
    while (this.inflight) await this.inflight
    this.ctx.leases.add(ref.id)
    this.end()
    return ref
  }

  /** With `overlap`: resolves once the batch being filled may grow again (rejects if storing failed). */
  async ready(): Promise<void> {
    while (this.batchSize >= this.limit) {
      if (this.inflight) await this.inflight
      else this.flush()
    }
  }

  /** Give up: committed chunks become orphans for gc. */
  abort(): void {
    if (!this.ended) this.end()
  }

  private put(plain: Uint8Array): ChunkId {
    const data = this.ctx.cipher.seal(plain)
    const id = chunkIdOf(data)
    this.stage(id, data)
    return id
  }

  private stage(id: ChunkId, data: Uint8Array): void {
    this.lease(id)
    this.batch.push({ id, data })
    this.batchSize += data.length
    if (this.batchSize >= this.limit && !this.inflight) this.flush()
  }

  private lease(id: ChunkId): void {
    this.ctx.leases.add(id)
    this.mine.set(id, (this.mine.get(id) ?? 0) + 1)
  }

  private unlease(id: ChunkId): void {
    const n = this.mine.get(id)
    if (n === undefined) return
    if (n > 1) this.mine.set(id, n - 1)
    else this.mine.delete(id)
    this.ctx.leases.remove(id)
  }

  private flush(): void {
    if (this.batch.length === 0 && this.nodes.length === 0) return
    const { batch, nodes } = this
    this.batch = []
    this.nodes = []
    this.batchSize = 0
    const { backend } = this.ctx
    const records = () => {
      for (const n of nodes) backend.addNode(n.id, n.children)
    }
    // A committed node record counts its children, and the node itself stays leased until its
    // own parent is committed: the children need no lease of their own any more. This keeps the
    // lease set to the unfinished edge of the tree instead of every chunk of a 10 GiB file.
    // (Children are always in this batch or an earlier one, and batches commit in order.)
    const unleaseChildren = () => {
      for (const n of nodes) for (const c of n.children) this.unlease(c)
    }
    if (this.ctx.overlap && backend.putManyAsync) {
      const p = backend.putManyAsync(batch, records).then(unleaseChildren)
      this.inflight = p
      // Failures surface where the session awaits `inflight` (ready, finishAsync).
      p.then(
        () => {
          if (this.inflight === p) this.inflight = undefined
        },
        () => {},
      )
      return
    }
    // Lazy: the chunks are durable once putMany returns; the node records only matter once the
    // result is retained, and that commit is durable (and makes these durable with it). A crash
    // before it drops the lease anyway, so gc would sweep what these records describe.
    backend.transaction(
      () => {
        backend.putMany(batch)
        records()
      },
      { lazy: true },
    )
    unleaseChildren()
  }

  private end(): void {
    this.ended = true
    for (const [id, n] of this.mine) for (let i = 0; i < n; i++) this.ctx.leases.remove(id)
    this.mine.clear()
  }
}
