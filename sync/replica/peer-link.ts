/**
 * One attached connection as the engine sees it: the hello state, the
 * channels on it (numbered by their opener: even numbers by the side that
 * dialled, odd by the side that accepted, so a number alone says whose
 * channel it is), byte and frame counters, and the ordered send path.
 */
import type { Runtime } from '../runtime.js'
import type { Connection } from '../transport/types.js'
import { encodeMessage } from '../wire/codec.js'
import { LIMITS, type Message } from '../wire/messages.js'
import type { Channel } from './channel.js'

/** Channel numbers a closed channel keeps in `closedIds` (frames that crossed its close are ignored). */
const CLOSED_MEMORY = 1024

/** Counters shared by every link of an engine (EngineStats without `rejected`). */
export interface FrameCounters {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
}

/** A join this side asked for on the link, waiting for `welcome` or `refuse`. */
export interface PendingJoin {
  channel: number
  tree: string
  invite: string
  secret: Uint8Array
  resolve(m: Extract<Message, { type: 'welcome' }>): void
  reject(e: Error): void
}

export class PeerLink {
  /** Set once the remote's hello arrived and the versions met. */
  helloDone = false
  version = 0
  agent = ''
  readonly since: number
  bytesIn = 0
  bytesOut = 0
  rttMs: number | undefined
  /** Live and pending channels by number (ours and theirs). */
  readonly channels = new Map<number, Channel>()
  /** Numbers of channels closed on this link: frames for them that crossed the close are dropped. */
  readonly closedIds = new Set<number>()
  /** Joins this side asked for (at most one in practice). */
  readonly joins = new Map<number, PendingJoin>()
  /** Chunk answers to `want`s, one after another (each send awaited: backpressure). */
  serving: Promise<void> = Promise.resolve()
  /** `want` messages queued on `serving` and not answered yet. */
  pendingWants = 0
  /** A join to send once hello is done. */
  joinAfterHello: PendingJoin | undefined
  private nextChannel: number
  private pingNonce = 0
  private readonly pings = new Map<number, number>()
  /** The connection's frame memory for chunk answers (one copy fewer on Hyperswarm), if it has one. */
  private readonly alloc: ((size: number) => Uint8Array) | undefined

  constructor(
    readonly conn: Connection,
    /** This node's id. */
    readonly localId: string,
    private readonly runtime: Runtime,
    private readonly counters: FrameCounters,
  ) {
    this.since = runtime.clock.now()
    this.nextChannel = conn.initiator ? 0 : 1
    this.alloc = conn.allocFrame?.bind(conn)
  }

  get remote(): string {
    return this.conn.remoteId
  }

  /** A fresh channel number of this side's parity (never reused on this link). */
  newChannelId(): number {
    const id = this.nextChannel
    this.nextChannel += 2
    return id
  }

  /** Whether `n` is a number the remote side opens (the other parity). */
  isRemoteNumber(n: number): boolean {
    return n % 2 === (this.conn.initiator ? 1 : 0)
  }

  /** Forget a channel; late frames for it are ignored from now on. */
  forget(n: number): void {
    this.channels.delete(n)
    this.closedIds.add(n)
    if (this.closedIds.size > CLOSED_MEMORY) {
      const oldest = this.closedIds.values().next().value as number
      this.closedIds.delete(oldest)
    }
  }

  /** Count one received frame. */
  received(bytes: number): void {
    this.bytesIn += bytes
    this.counters.framesIn++
    this.counters.bytesIn += bytes
  }

  /**
   * Send one message. Frames leave in call order; the promise resolves when
   * the transport took the frame (await it for backpressure) and never
   * rejects: a send on a closed connection is dropped (its close is handled
   * by the close listener). Returns the frame size.
   */
  send(m: Message): { bytes: number; done: Promise<void> } {
    if (this.conn.closed) return { bytes: 0, done: Promise.resolve() }
    const frame = encodeMessage('reason' in m ? { ...m, reason: clipText(m.reason) } : m, this.alloc)
    this.bytesOut += frame.length
    this.counters.framesOut++
    this.counters.bytesOut += frame.length
    const done = this.conn.send(frame).catch(() => {})
    return { bytes: frame.length, done }
  }

  /** Send a ping to measure the round trip. */
  ping(): void {
    const nonce = this.pingNonce++ >>> 0
    this.pings.set(nonce, this.runtime.clock.now())
    this.send({ type: 'ping', nonce })
  }

  pong(nonce: number): void {
    const at = this.pings.get(nonce)
    if (at === undefined) return
    this.pings.delete(nonce)
    this.rttMs = this.runtime.clock.now() - at
  }
}

/** `text` cut to LIMITS.text bytes of UTF-8 (reasons may quote what a peer sent). */
export function clipText(text: string): string {
  let s = text.length > LIMITS.text ? text.slice(0, LIMITS.text) : text
  while (Buffer.byteLength(s, 'utf8') > LIMITS.text) s = s.slice(0, Math.max(0, s.length - 64))
  return s
}
