/**
 * What every `Connection` implementation shares: frame size checks, the one
 * frame listener with its queue for frames that arrive before it is set,
 * close listeners, "a throwing listener closes the connection", and the
 * error a send after close rejects with. A transport subclass supplies how a
 * frame is written (`write`) and how the link is shut (`shutdown`), and
 * calls `deliver` / `ended` as its link reports frames and closure.
 */
import { type CloseInfo, type Connection, MAX_FRAME, type TransportKind } from './types.js'

/** A send on (or a dial racing with) a closed connection. `reason` is why it closed. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError'
  constructor(readonly reason: string) {
    super(`connection closed: ${reason}`)
  }
}

/** Throw RangeError unless 1 <= frame.length <= MAX_FRAME. */
export function checkFrameSize(frame: Uint8Array): void {
  if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array')
  if (frame.length < 1 || frame.length > MAX_FRAME)
    throw new RangeError(`frame of ${frame.length} bytes (must be 1..${MAX_FRAME})`)
}

export abstract class BaseConnection implements Connection {
  private listener: ((frame: Uint8Array) => void) | undefined
  /** Frames received and not yet given to the listener (none set, or a flush is pending). */
  private readonly queue: Uint8Array[] = []
  private queueBytes = 0
  private flushScheduled = false
  private readonly closeListeners: ((info: CloseInfo) => void)[] = []
  private info: CloseInfo | undefined

  constructor(
    readonly remoteId: string,
    readonly transport: TransportKind,
    readonly initiator: boolean,
  ) {}

  get closed(): boolean {
    return this.info !== undefined
  }

  /** Why it closed, once it has. */
  get closeInfo(): CloseInfo | undefined {
    return this.info
  }

  /** Bytes received and waiting for a listener (transports stop reading past a bound). */
  protected get queuedBytes(): number {
    return this.queueBytes
  }

  send(frame: Uint8Array): Promise<void> {
    checkFrameSize(frame)
    if (this.info) return Promise.reject(new ConnectionClosedError(this.info.reason))
    return this.write(frame)
  }

  onFrame(listener: (frame: Uint8Array) => void): void {
    this.listener = listener
    // Queued frames go out on a later microtask, not inside this call: the
    // caller usually sets up its own state right after registering.
    if (this.queue.length > 0) this.scheduleFlush()
  }

  onClose(listener: (info: CloseInfo) => void): void {
    if (this.info) {
      const info = this.info
      queueMicrotask(() => listener(info))
      return
    }
    this.closeListeners.push(listener)
  }

  close(reason = 'closed'): void {
    if (this.info) return
    this.finish({ reason, local: true })
    this.shutdown(reason)
  }

  /** Hand one frame to the link; resolve when the link has taken it (backpressure). */
  protected abstract write(frame: Uint8Array): Promise<void>
  /** Shut the link after a local close, telling the remote `reason` if it can. Called once. */
  protected abstract shutdown(reason: string): void
  /**
   * A frame of `bytes` was handed to the listener: the memory transport
   * returns send credit, stream transports that paused reading may resume.
   */
  protected taken(_bytes: number): void {}

  /** A frame arrived from the remote. Dropped once closed. */
  protected deliver(frame: Uint8Array): void {
    if (this.info) return
    if (this.listener && this.queue.length === 0) {
      this.call(frame)
      return
    }
    this.queue.push(frame)
    this.queueBytes += frame.length
    if (this.listener) this.scheduleFlush()
  }

  /** The remote or the network ended the connection. Frames not yet delivered are dropped. */
  protected ended(reason: string): void {
    if (this.info) return
    this.finish({ reason, local: false })
  }

  private call(frame: Uint8Array): void {
    try {
      this.listener!(frame)
    } catch (e) {
      this.close(`frame listener failed: ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    if (!this.info) this.taken(frame.length)
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(() => {
      this.flushScheduled = false
      while (this.queue.length > 0 && this.listener && !this.info) {
        const frame = this.queue.shift()!
        this.queueBytes -= frame.length
        this.call(frame)
      }
    })
  }

  private finish(info: CloseInfo): void {
    this.info = info
    this.queue.length = 0
    this.queueBytes = 0
    const listeners = this.closeListeners.splice(0)
    for (const l of listeners) {
      try {
        l(info)
      } catch {
        // A failing close listener must not stop the others or the closer.
      }
    }
  }
}
