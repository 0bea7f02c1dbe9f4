/**
 * Chunking, sealing and hashing of streamed writes on a worker thread
 * (seal-worker.ts), so the thread that serves the filesystem only stores the
 * results: at ~2.5 ms of CPU per MiB (FastCDC, keyed BLAKE3 nonce,
 * ChaCha20-Poly1305, BLAKE3 id) that work alone capped a sequential writer
 * near 200 MB/s on the one JavaScript thread.
 *
 * One worker per store, started on the first streamed write and kept alive
 * only while a write uses it (unref'd when idle); streams are multiplexed by
 * id, each in order. Input pieces are copied into a buffer the worker takes
 * over (transferred), unless the caller gives them away (`owned`). Sealed
 * chunks come back transferred, no copy.
 */
import { Worker } from 'node:worker_threads'
import { type ChunkId, StoreError } from './types.js'

/** Plaintext bytes handed to the worker and not yet returned sealed before a writer waits. */
const HIGH_WATER = 8 * 1024 * 1024

/** Chunks of one stream, in order, as the worker sealed them. */
export interface SealedChunks {
  ids: ChunkId[]
  /** Plaintext length of each chunk. */
  lens: number[]
  /** Stored bytes of each chunk (owned by the receiver). */
  sealed: Uint8Array[]
}

interface Reply extends Partial<SealedChunks> {
  s: number
  plain?: number
  end?: boolean
  error?: string
}

export class SealWorker {
  private worker: Worker | undefined
  private next = 1
  private readonly streams = new Map<number, SealStream>()
  private closed = false

  /** A new stream sealing under `key`; `onChunks` receives its chunks in order. */
  open(key: Uint8Array, onChunks: (c: SealedChunks) => void): SealStream {
    if (this.closed) throw new StoreError('ECLOSED', 'seal worker is closed')
    const w = this.start()
    const s = this.next++
    const st = new SealStream(this, s, onChunks)
    this.streams.set(s, st)
    w.ref()
    w.postMessage({ t: 'open', s, key })
    return st
  }

  /** Stop the worker (streams still open fail). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.fail(new StoreError('ECLOSED', 'seal worker is closed'))
    void this.worker?.terminate()
    this.worker = undefined
  }

  /** @internal */
  post(msg: unknown, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(msg, transfer)
  }

  /** @internal The stream is done: the worker may idle (and not keep the process alive). */
  forget(s: number): void {
    this.streams.delete(s)
    if (this.streams.size === 0) this.worker?.unref()
  }

  private start(): Worker {
    if (this.worker) return this.worker
    // No inherited flags: the parent's (--input-type, --import hooks, --cpu-prof) are not ours.
    const w = new Worker(new URL('./seal-worker.js', import.meta.url), { execArgv: [] })
    w.on('message', (m: Reply) => this.streams.get(m.s)?.receive(m))
    w.on('error', (e) => this.lost(w, e))
    w.on('exit', (code) => this.lost(w, new Error(`seal worker exited (${code})`)))
    w.unref()
    this.worker = w
    return w
  }

  private lost(w: Worker, e: Error): void {
    if (this.worker !== w) return
    this.worker = undefined
    this.fail(new StoreError('EIO', `seal worker failed: ${e.message}`))
  }

  private fail(e: Error): void {
    for (const st of [...this.streams.values()]) st.fail(e)
    this.streams.clear()
  }
}

/** One write's stream of pieces into the worker. */
export class SealStream {
  private inflight = 0
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined
  private ending: { resolve: () => void; reject: (e: Error) => void } | undefined
  private error: Error | undefined
  private done = false

  constructor(
    private readonly pool: SealWorker,
    private readonly s: number,
    private readonly onChunks: (c: SealedChunks) => void,
  ) {}

  /**
   * Hand a piece to the worker. `owned`: the caller gives the piece away (its
   * buffer is transferred and detached here when it spans the whole buffer).
   * Resolves at once, or once the worker has caught up when too much is
   * outstanding.
   */
  async push(piece: Uint8Array, owned = false): Promise<void> {
    if (this.error) throw this.error
    if (this.done) throw new StoreError('EINVAL', 'push after end')
    if (piece.length === 0) return
    const whole =
      owned &&
      piece.byteOffset === 0 &&
      piece.byteLength === piece.buffer.byteLength &&
      piece.buffer instanceof ArrayBuffer
    const p = whole ? piece : Uint8Array.prototype.slice.call(piece)
    this.inflight += p.length
    this.pool.post({ t: 'push', s: this.s, piece: p }, [p.buffer as ArrayBuffer])
    if (this.inflight <= HIGH_WATER) return
    await new Promise<void>((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }

  /** No more input: resolves once every chunk has been delivered to `onChunks`. */
  end(): Promise<void> {
    if (this.error) return Promise.reject(this.error)
    this.done = true
    return new Promise<void>((resolve, reject) => {
      this.ending = { resolve, reject }
      this.pool.post({ t: 'end', s: this.s })
    })
  }

  /** Give up (the worker drops the stream's state). */
  abort(): void {
    if (!this.error) this.error = new StoreError('EINVAL', 'stream aborted')
    this.pool.post({ t: 'close', s: this.s })
    this.pool.forget(this.s)
  }

  /** @internal */
  receive(m: Reply): void {
    if (this.error) return
    if (m.error !== undefined) {
      this.fail(new StoreError('EIO', `sealing failed: ${m.error}`))
      this.pool.forget(this.s)
      return
    }
    this.inflight -= m.plain ?? 0
    try {
      if (m.ids && m.ids.length > 0) this.onChunks({ ids: m.ids, lens: m.lens!, sealed: m.sealed! })
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)))
      this.abort()
      return
    }
    if (this.inflight <= HIGH_WATER / 2) {
      const w = this.waiting
      this.waiting = undefined
      w?.resolve()
    }
    if (m.end) {
      this.pool.forget(this.s)
      const e = this.ending
      this.ending = undefined
      e?.resolve()
    }
  }

  /** @internal */
  fail(e: Error): void {
    if (this.error) return
    this.error = e
    const w = this.waiting
    const en = this.ending
    this.waiting = undefined
    this.ending = undefined
    w?.reject(e)
    en?.reject(e)
  }
}
