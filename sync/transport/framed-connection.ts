/**
 * A `Connection` over one byte stream in the format of framing.ts: writes
 * serialized in order, a close record carrying the reason before the link
 * is torn down, incoming bytes parsed as they arrive, and reading paused
 * while more than RECV_QUEUE_LIMIT bytes of frames wait for a listener (so
 * a peer cannot fill our memory faster than we consume). The iroh and
 * Hyperswarm transports subclass it with how bytes are written and how the
 * link is torn down.
 */
import type { Timers } from '../runtime.js'
import { BaseConnection, ConnectionClosedError } from './base-connection.js'
import { closeRecord, Deframer, frameHeader, STREAM_MAGIC } from './framing.js'
import type { TransportKind } from './types.js'

export type TeardownMode = 'flushed' | 'remote' | 'abort'

/** Received frames waiting for a listener before reading pauses. */
export const RECV_QUEUE_LIMIT = 1024 * 1024
/** Frames up to this size go out with their header in one write. */
const COALESCE = 64 * 1024

export abstract class FramedConnection extends BaseConnection {
  private readonly deframer = new Deframer()
  private tail: Promise<void> = Promise.resolve()
  private tornDown = false
  private paused = false

  constructor(
    remoteId: string,
    kind: TransportKind,
    initiator: boolean,
    protected readonly timers: Timers,
    /** How long a local close waits for its close record to be written before tearing down anyway. */
    private readonly closeGraceMs = 3000,
  ) {
    super(remoteId, kind, initiator)
  }

  /** Write one piece of bytes; resolve when the link has taken it. Rejects when the link broke. */
  protected abstract writeBytes(piece: Uint8Array): Promise<void>
  /**
   * Release the link (called once). `how`: 'flushed' after a local close
   * whose close record the link has taken (end gracefully: let the remote
   * read it); 'remote' after the remote's close record (it is waiting for
   * us to end the link); 'abort' when the link failed or a flush timed out.
   */
  protected abstract teardown(reason: string, how: TeardownMode): void
  /** Stop reading from the link until `resumeReading`. */
  protected abstract pauseReading(): void
  protected abstract resumeReading(): void

  /** Start the stream: our magic goes out first. Subclasses call it once the link is up. */
  protected begin(): Promise<void> {
    return this.enqueue([STREAM_MAGIC])
  }

  protected get readingPaused(): boolean {
    return this.paused
  }

  protected write(frame: Uint8Array): Promise<void> {
    if (frame.length <= COALESCE) {
      const one = new Uint8Array(4 + frame.length)
      one.set(frameHeader(frame.length), 0)
      one.set(frame, 4)
      return this.enqueue([one])
    }
    return this.enqueue([frameHeader(frame.length), frame])
  }

  private enqueue(parts: Uint8Array[]): Promise<void> {
    const p = this.tail.then(async () => {
      for (const part of parts) await this.writeBytes(part)
    })
    this.tail = p.catch(() => {})
    return p.catch((e: unknown) => {
      const reason = e instanceof Error ? e.message : String(e)
      this.linkFailed(reason)
      throw new ConnectionClosedError(this.closeInfo?.reason ?? reason)
    })
  }

  protected shutdown(reason: string): void {
    let done = false
    const finish = (how: TeardownMode) => {
      if (done) return
      done = true
      timer.cancel()
      this.release(reason, how)
    }
    const timer = this.timers.setTimeout(() => finish('abort'), this.closeGraceMs)
    this.tail
      .then(() => this.writeBytes(closeRecord(reason)))
      .then(
        () => finish('flushed'),
        () => finish('abort'),
      )
  }

  /** Bytes arrived from the link. */
  protected received(piece: Uint8Array): void {
    if (this.closed) return
    for (const ev of this.deframer.push(piece)) {
      if (ev.type === 'frame') this.deliver(ev.frame)
      else if (ev.type === 'close') {
        this.ended(ev.reason || 'closed by remote')
        this.release(ev.reason, 'remote')
      } else this.close(ev.reason)
      if (this.closed) return
    }
    if (!this.paused && this.queuedBytes > RECV_QUEUE_LIMIT) {
      this.paused = true
      this.pauseReading()
    }
  }

  /** The link ended or failed without a close record. */
  protected linkFailed(reason: string): void {
    this.ended(reason)
    this.release(reason, 'abort')
  }

  protected override taken(_bytes: number): void {
    if (this.paused && this.queuedBytes <= RECV_QUEUE_LIMIT / 2) {
      this.paused = false
      this.resumeReading()
    }
  }

  private release(reason: string, how: TeardownMode): void {
    if (this.tornDown) return
    this.tornDown = true
    this.teardown(reason, how)
  }
}
