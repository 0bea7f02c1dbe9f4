/**
 * A byte queue between a socket and a consumer, with backpressure: when more
 * than `high` bytes wait, the socket is paused; it resumes once the consumer
 * has taken the queue below `low`. This is what keeps a 1 GiB upload (server
 * side) or download (client side) from piling up in memory.
 */
export interface InboxOptions {
  pause(): void
  resume(): void
  high?: number
  low?: number
}

export class Inbox {
  private queue: Buffer[] = []
  private bytes = 0
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined
  private paused = false
  private readonly high: number
  private readonly low: number

  constructor(private readonly o: InboxOptions) {
    this.high = o.high ?? 4 * 1024 * 1024
    this.low = o.low ?? 1024 * 1024
  }

  /** Bytes waiting for the consumer. */
  get pending(): number {
    return this.bytes
  }

  push(b: Buffer): void {
    if (this.ended || this.error) return
    this.queue.push(b)
    this.bytes += b.length
    if (this.bytes > this.high && !this.paused) {
      this.paused = true
      this.o.pause()
    }
    this.notify()
  }

  /** The stream ended normally: the consumer sees the end after the queued bytes. */
  end(): void {
    this.ended = true
    this.notify()
  }

  /** The stream failed: the consumer's next read throws `e` (queued bytes are dropped). */
  fail(e: Error): void {
    if (this.ended || this.error) return
    this.error = e
    this.queue = []
    this.bytes = 0
    this.release()
    this.notify()
  }

  /** Whether the stream has finished (ended or failed). */
  get done(): boolean {
    return this.ended || this.error !== undefined
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.error) throw this.error
      const b = this.queue.shift()
      if (b) {
        this.bytes -= b.length
        if (this.bytes < this.low) this.release()
        yield b
        continue
      }
      if (this.ended) return
      await new Promise<void>((r) => {
        this.wake = r
      })
    }
  }

  private release(): void {
    if (this.paused) {
      this.paused = false
      this.o.resume()
    }
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }
}
