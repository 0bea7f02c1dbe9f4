/**
 * Chunking a file while it is written front to back (a program copying or
 * producing a large file), instead of all at its close.
 *
 * A branch normally reaches the store at commit: the close re-reads the
 * staged bytes, chunks, encrypts and stores them, and the writer waits for
 * all of it. When every write of a handle so far continues where the last one
 * ended, from offset 0 (over an empty or truncated file), the content at
 * commit is exactly those bytes in that order, so the store can take them as
 * they arrive: `ContentStore.write` runs beside the writer on a bounded feed,
 * using the time the writer spends in the kernel, and the close only finishes
 * the tail. The result is the same FileRef a commit would build (FastCDC cuts
 * do not depend on how the bytes were split into writes).
 *
 * It is only a shortcut: staging still receives every write (reads through
 * the handle and any fallback use it), and the first write out of order, a
 * truncate or an append ends the ingest; its chunks are then orphans that gc
 * collects, as for any write abandoned before its commit.
 */
import type { ContentStore, FileRef } from '../store/types.js'
import type { StagingFile } from './staging.js'

/** Ingest starts once the in-order prefix reaches this (small files commit as before, inline). */
export const INGEST_FROM = 1024 * 1024
/** Bytes waiting for the chunker before a writer waits too (bounds the memory of a fast writer). */
const HIGH_WATER = 16 * 1024 * 1024
/**
 * Writes may arrive a little out of order (libfuse serves the kernel's
 * requests on several threads: 0, 2, 1, 3 ...): a write up to this far
 * beyond the in-order end is held until the gap before it is filled.
 */
const REORDER_SPAN = 4 * 1024 * 1024

/** Why an ingest was abandoned (never seen by callers: the store write it ends is dropped). */
class Abandoned extends Error {
  override name = 'Abandoned'
}

/** An in-order byte queue the store consumes as an async iterable, with backpressure. */
class Feed implements AsyncIterable<Uint8Array> {
  private readonly items: Uint8Array[] = []
  private bytes = 0
  private ended = false
  private failure: Error | undefined
  private consumer: (() => void) | undefined
  private producer: (() => void) | undefined

  /** Queue a piece (owned by the feed from now on); resolves once the queue is below its bound. */
  push(piece: Uint8Array): Promise<void> | undefined {
    this.items.push(piece)
    this.bytes += piece.length
    this.wake()
    if (this.bytes <= HIGH_WATER) return undefined
    return new Promise<void>((resolve) => {
      this.producer = resolve
    })
  }

  end(): void {
    this.ended = true
    this.wake()
  }

  fail(e: Error): void {
    this.failure = e
    this.items.length = 0
    this.bytes = 0
    this.wake()
    this.release()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      if (this.failure) throw this.failure
      const piece = this.items.shift()
      if (piece) {
        this.bytes -= piece.length
        if (this.bytes <= HIGH_WATER / 2) this.release()
        yield piece
        continue
      }
      if (this.ended) return
      await new Promise<void>((resolve) => {
        this.consumer = resolve
      })
    }
  }

  private wake(): void {
    const c = this.consumer
    this.consumer = undefined
    c?.()
  }

  private release(): void {
    const p = this.producer
    this.producer = undefined
    p?.()
  }
}

/** The ingest of one branch (see the file comment). */
export class SequentialIngest {
  /** Bytes written so far, all in order from offset 0. */
  private end = 0
  /** Writes that arrived ahead of `end` (copies), by offset. */
  private readonly ahead = new Map<number, Uint8Array>()
  private feed: Feed | undefined
  private result: Promise<FileRef> | undefined
  private dead = false

  constructor(
    private readonly store: ContentStore,
    private readonly staging: StagingFile,
  ) {}

  /** Still following the writes (not abandoned, not taken). */
  get alive(): boolean {
    return !this.dead
  }

  /** Length of the in-order prefix written so far. */
  get length(): number {
    return this.end
  }

  /**
   * `data` was staged at `offset`. Takes a copy (the caller may reuse its
   * buffer); waits while the store is far behind the writer.
   */
  async wrote(offset: number, data: Uint8Array): Promise<void> {
    if (this.dead || data.length === 0) return
    if (offset !== this.end) {
      if (offset < this.end || offset - this.end > REORDER_SPAN || this.ahead.has(offset)) return this.stop()
      this.ahead.set(offset, Uint8Array.prototype.slice.call(data))
      return
    }
    await this.append(data)
    for (let next = this.ahead.get(this.end); next; next = this.ahead.get(this.end)) {
      this.ahead.delete(this.end)
      await this.append(next)
      if (this.dead) return
    }
  }

  private async append(data: Uint8Array): Promise<void> {
    const before = this.end
    this.end += data.length
    if (!this.feed) {
      if (this.end < INGEST_FROM) return
      const feed = new Feed()
      this.feed = feed
      // The feed's pieces are our own copies: the store may take their buffers (no copy).
      this.result = this.store.write(feed, { owned: true })
      // Abandoning rejects the write; finish() looks at the outcome itself.
      this.result.catch(() => {})
      // The bytes before this write live in staging only: hand them over first.
      if (before > 0) feed.push(Uint8Array.prototype.slice.call(await this.staging.read(0, before)))
      if (this.dead) return
    }
    await this.feed.push(Uint8Array.prototype.slice.call(data))
  }

  /** Truncation to `size`: only "to nothing, before anything was written" keeps the ingest going. */
  truncated(size: number): void {
    if (size !== 0 || this.end !== 0) this.stop()
  }

  /**
   * The stored content, if the file is exactly the ingested bytes and `size`
   * long; undefined otherwise (the caller commits the usual way). The result
   * holds a lease like any `write` result: retain or drop it.
   */
  async take(size: number): Promise<FileRef | undefined> {
    const feed = this.feed
    const result = this.result
    if (this.dead || !feed || !result || size !== this.end || this.ahead.size > 0) {
      this.stop()
      return undefined
    }
    this.dead = true
    feed.end()
    try {
      return await result
    } catch {
      // The store failed (full disk, closed): the usual commit path reports it properly.
      return undefined
    }
  }

  /** Abandon: the store write stops and its chunks are left for gc. Idempotent. */
  stop(): void {
    if (this.dead) return
    this.dead = true
    this.ahead.clear()
    this.feed?.fail(new Abandoned('ingest abandoned'))
  }
}
