/**
 * A `Connection` over one byte stream in the format of framing.ts, shared
 * by the iroh and Hyperswarm transports (subclasses say how bytes are
 * written and how the link is torn down, and feed what they read to
 * `received`).
 *
 * Flow control is ours, not the link's: Hyperswarm's UDX streams keep
 * accepting data whether or not the application reads, so a peer could fill
 * our memory. Each side may have at most WINDOW bytes of frames not yet
 * consumed by the remote's listener when it starts a frame (so at most
 * WINDOW + MAX_FRAME outstanding); the receiver returns credit as its
 * listener consumes frames. A sender that awaits each send therefore runs
 * at most that far ahead, and a receiver that sees more outstanding closes
 * the connection. Credit records jump the queue of waiting frames (never
 * splitting one), so two sides blocked on each other's credit cannot
 * deadlock. Reading from the link never pauses, so credit and close
 * records always get through.
 */
import type { Timers } from '../runtime.js'
import { BaseConnection, ConnectionClosedError } from './base-connection.js'
import { closeRecord, creditRecord, Deframer, STREAM_MAGIC, toRecord } from './framing.js'
import { MAX_FRAME, type TransportKind } from './types.js'

/** Bytes of frames a sender may have unconsumed by the remote before it waits for credit. */
export const WINDOW = 4 * 1024 * 1024
/** Credit is returned once this many consumed bytes have accumulated. */
const CREDIT_BATCH = WINDOW / 4

export type TeardownMode = 'flushed' | 'remote' | 'abort'

interface QueuedFrame {
  /** The whole record (header and frame: one write, one message on the link). */
  record: Uint8Array
  /** Bytes counted against the window (0 for records exempt from it). */
  size: number
  resolve(): void
  reject(e: Error): void
}

export abstract class FramedConnection extends BaseConnection {
  private readonly deframer = new Deframer()
  private readonly control: Uint8Array[] = []
  private readonly frames: QueuedFrame[] = []
  private pumping = false
  /** Our frame bytes the remote has not yet credited. */
  private outstanding = 0
  /** Remote frame bytes received and not yet credited back. */
  private owed = 0
  /** Of `owed`, bytes our listener has consumed (credit to send). */
  private consumed = 0
  private tornDown = false
  private linkBroken: string | undefined
  private resolveDone!: () => void
  /** Resolves once the link is released (`markDone`); the transport's close waits for it. */
  readonly done = new Promise<void>((r) => {
    this.resolveDone = r
  })

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

  /** The subclass's link is gone (socket closed, QUIC connection released). */
  protected markDone(): void {
    this.resolveDone()
  }

  /**
   * Write one piece of bytes; resolve when the link has taken it. Rejects when
   * the link broke. The piece is the link's from now on (never reused here).
   */
  protected abstract writeBytes(piece: Uint8Array): Promise<void>
  /**
   * Release the link (called once). `how`: 'flushed' after a local close
   * whose close record the link has taken (end gracefully: let the remote
   * read it); 'remote' after the remote's close record (it is waiting for
   * us to end the link); 'abort' when the link failed or a flush timed out.
   */
  protected abstract teardown(reason: string, how: TeardownMode): void

  /** Start the stream: our magic goes out first. Subclasses call it once the link is up. */
  protected begin(): void {
    this.control.push(STREAM_MAGIC)
    this.pump()
  }

  protected write(frame: Uint8Array): Promise<void> {
    // Header and frame in one piece: in place for a frame from allocFrame (the codec's), else one copy.
    const record = toRecord(frame)
    return new Promise((resolve, reject) => {
      this.frames.push({ record, size: frame.length, resolve, reject })
      this.pump()
    })
  }

  /** Write queued records in order: control records first, frames while the window allows. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      for (;;) {
        if (this.linkBroken !== undefined) return
        const ctl = this.control.shift()
        if (ctl) {
          await this.writeBytes(ctl)
          continue
        }
        const next = this.frames[0]
        if (!next || (next.size > 0 && this.outstanding >= WINDOW)) return
        this.frames.shift()
        this.outstanding += next.size
        await this.writeBytes(next.record)
        next.resolve()
      }
    } catch (e) {
      this.linkFailed(e instanceof Error ? e.message : String(e))
    } finally {
      this.pumping = false
    }
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
    // After the frames already queued (they were sent before the close), exempt from the window.
    this.frames.push({
      record: closeRecord(reason),
      size: 0,
      resolve: () => finish('flushed'),
      reject: () => finish('abort'),
    })
    this.pump()
  }

  /** Bytes arrived from the link. */
  protected received(piece: Uint8Array): void {
    if (this.tornDown) return
    for (const ev of this.deframer.push(piece)) {
      switch (ev.type) {
        case 'frame':
          // After a local close frames are dropped, but credit still lets our queued frames out.
          if (this.closed) break
          this.owed += ev.frame.length
          if (this.owed > WINDOW + MAX_FRAME) {
            this.close(`flow control: remote sent ${this.owed} bytes beyond its credit`)
            return
          }
          this.deliver(ev.frame)
          break
        case 'credit':
          this.outstanding = Math.max(0, this.outstanding - ev.bytes)
          this.pump()
          break
        case 'close':
          this.ended(ev.reason || 'closed by remote')
          this.release(ev.reason, 'remote')
          return
        case 'error':
          this.close(ev.reason)
          return
      }
    }
  }

  /** The link ended or failed without a close record. */
  protected linkFailed(reason: string): void {
    if (this.linkBroken === undefined) this.linkBroken = reason
    this.ended(reason)
    const err = new ConnectionClosedError(this.closeInfo?.reason ?? reason)
    for (const f of this.frames.splice(0)) f.reject(err)
    this.release(reason, 'abort')
  }

  protected override taken(bytes: number): void {
    this.consumed += bytes
    if (this.consumed >= CREDIT_BATCH) {
      const n = this.consumed
      this.consumed = 0
      this.owed -= n
      this.control.push(creditRecord(n))
      this.pump()
    }
  }

  private release(reason: string, how: TeardownMode): void {
    if (this.tornDown) return
    this.tornDown = true
    if (how !== 'flushed') {
      // Nothing more will be written: fail what still waits.
      this.linkBroken ??= reason
      const err = new ConnectionClosedError(this.closeInfo?.reason ?? reason)
      for (const f of this.frames.splice(0)) f.reject(err)
    }
    this.teardown(reason, how)
  }
}
