/**
 * One simulated connection: a reliable, ordered frame stream over lossy
 * datagrams. Frames and the closing FIN share one sequence space, so a close
 * arrives after every frame sent before it; a closed side lingers
 * (retransmitting what is unacknowledged) until the remote acknowledged its
 * FIN or went silent, like TCP's FIN_WAIT. Timeouts follow RFC 6298 on
 * virtual time.
 */
import { hash } from 'node:crypto'
import type { CloseInfo, Connection } from '../sync/transport/types.js'
import { MAX_FRAME } from '../sync/transport/types.js'
import { type Datagram, HEADER_BYTES } from './links.js'
import type { StreamOptions } from './net.js'
import type { Cancel } from './scheduler.js'

/** What a connection needs of its transport. */
export interface StreamHost {
  readonly nodeId: string
  readonly opts: StreamOptions
  readonly counters: {
    framesSent: number
    framesDelivered: number
    frameBytes: number
    retransmits: number
    dialFailures: number
    opened: number
    timeouts: number
    resets: number
  }
  emit(d: Datagram): void
  timer(ms: number, fn: () => void): Cancel
  now(): number
  /** The connection is done (no more datagrams for it are expected). */
  forget(id: string): void
}

interface Outgoing {
  frame: Uint8Array
  digest: string
  resolve: () => void
  reject: (e: Error) => void
}

interface InFlight {
  /** A frame, or the FIN (with its reason). */
  frame?: Uint8Array
  fin?: string
  digest: string
  firstSent: number
  tx: number
}

type Incoming = Uint8Array | { fin: string }

export class SimConnection implements Connection {
  readonly transport = 'memory' as const
  private state: 'open' | 'lingering' | 'done' = 'open'
  private established: boolean
  private nextSeq = 1
  private readonly queue: Outgoing[] = []
  private readonly inflight = new Map<number, InFlight>()
  private inflightBytes = 0
  private expected = 1
  private readonly reorder = new Map<number, Incoming>()
  private listener: ((f: Uint8Array) => void) | undefined
  private backlog: Uint8Array[] = []
  private backlogBytes = 0
  private readonly closeListeners: ((i: CloseInfo) => void)[] = []
  private closeInfo: CloseInfo | undefined
  private srtt: number | undefined
  private rttvar = 0
  private rto: number
  private rtoTimer: Cancel | undefined
  private tickTimer: Cancel | undefined
  private lastHeard: number
  private lastSent: number
  private dialWait: { resolve: (c: Connection) => void; reject: (e: Error) => void } | undefined
  /** Bytes of frames delivered / sent (for peer info). */
  bytesIn = 0
  bytesOut = 0

  constructor(
    private readonly h: StreamHost,
    readonly id: string,
    readonly remoteId: string,
    readonly initiator: boolean,
  ) {
    this.established = !initiator
    this.rto = Math.max(h.opts.minRtoMs, 200)
    this.lastHeard = h.now()
    this.lastSent = h.now()
    this.tick()
  }

  get closed(): boolean {
    return this.state !== 'open'
  }

  /** Dialler: resolves once the remote answered, rejects after the dial timeout or a reset. */
  opened(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      this.dialWait = { resolve, reject }
      const started = this.h.now()
      const syn = () => {
        if (this.established || this.state !== 'open') return
        const waited = this.h.now() - started
        if (waited >= this.h.opts.dialTimeoutMs) {
          this.h.counters.dialFailures++
          this.fail({ reason: `dial ${this.remoteId.slice(0, 8)}: timed out`, local: false })
          return
        }
        this.datagram('syn')
        this.h.timer(Math.min(1000, 200 * 2 ** Math.floor(waited / 1000)), syn)
      }
      syn()
    })
  }

  send(frame: Uint8Array): Promise<void> {
    if (!(frame instanceof Uint8Array) || frame.length < 1 || frame.length > MAX_FRAME) {
      throw new RangeError(`frame of ${frame?.length} bytes (1..${MAX_FRAME})`)
    }
    if (this.state !== 'open')
      return Promise.reject(new Error(`connection closed: ${this.closeInfo?.reason}`))
    const copy = frame.slice()
    const digest = hash('sha256', copy, 'hex').slice(0, 16)
    return new Promise((resolve, reject) => {
      this.queue.push({ frame: copy, digest, resolve, reject })
      this.pump()
    })
  }

  onFrame(listener: (frame: Uint8Array) => void): void {
    this.listener = listener
    // Queued frames go out on a later microtask, not inside this call (as the
    // other transports do): callers set up their own state right after.
    if (this.backlog.length > 0) queueMicrotask(() => this.flushBacklog())
  }

  private flushBacklog(): void {
    const queued = this.backlog
    this.backlog = []
    this.backlogBytes = 0
    for (const f of queued) {
      if (this.closeInfo?.local) return
      this.deliver(f)
    }
    // The sender may be waiting on a window this receiver held shut.
    if (this.state === 'open' && this.established) this.datagram('ack')
  }

  onClose(listener: (info: CloseInfo) => void): void {
    const info = this.closeInfo
    if (info) queueMicrotask(() => listener(info))
    else this.closeListeners.push(listener)
  }

  close(reason = 'closed'): void {
    if (this.state !== 'open') return
    if (!this.established) {
      this.fail({ reason, local: true })
      return
    }
    // Frames not yet taken by the transport are refused; those taken still go, then the FIN.
    this.rejectQueued(new Error(`connection closed: ${reason}`))
    const seq = this.nextSeq++
    this.inflight.set(seq, { fin: reason, digest: 'fin', firstSent: this.h.now(), tx: 1 })
    this.transmit(seq)
    this.state = 'lingering'
    this.announce({ reason, local: true })
  }

  /** Crash of this side: drop everything, tell no one. */
  vanish(): void {
    this.closeInfo ??= { reason: 'crashed', local: true }
    this.closeListeners.length = 0
    this.dialWait = undefined
    this.queue.length = 0
    this.done()
  }

  receive(d: Datagram): void {
    if (this.state === 'done') return
    this.lastHeard = this.h.now()
    if (d.kind === 'rst') {
      this.h.counters.resets++
      this.fail({ reason: `connection reset by peer (${d.reason ?? ''})`, local: false })
      return
    }
    if (d.kind === 'syn') {
      this.datagram('synack')
      return
    }
    if (!this.established) {
      this.established = true
      this.h.counters.opened++
      this.dialWait?.resolve(this)
      this.dialWait = undefined
    }
    // acked() may finish a lingering close.
    if (!this.acked(d.ack)) return
    if (d.kind === 'data' || d.kind === 'fin') {
      if (this.state === 'open') this.incoming(d)
      // Lingering: their data is discarded, but acknowledged so their FIN completes.
      else this.datagram('ack', { ackAll: d.seq })
    }
    if (this.state === 'open') this.pump()
  }

  private incoming(d: Datagram): void {
    const full = !this.listener && this.backlogBytes >= this.h.opts.receiveBufferBytes
    if (d.seq >= this.expected && !this.reorder.has(d.seq) && !full) {
      this.reorder.set(d.seq, d.kind === 'fin' ? { fin: d.reason ?? 'closed by peer' } : d.payload!)
    }
    while (this.reorder.has(this.expected) && this.state === 'open') {
      const item = this.reorder.get(this.expected)!
      this.reorder.delete(this.expected)
      this.expected++
      if (item instanceof Uint8Array) this.deliver(item)
      else {
        this.datagram('ack')
        this.fail({ reason: item.fin, local: false })
        return
      }
    }
    // Every data datagram is acknowledged, duplicates too (their ack may have been lost).
    if (this.state !== 'done') this.datagram('ack')
  }

  private deliver(f: Uint8Array): void {
    this.h.counters.framesDelivered++
    this.bytesIn += f.length
    if (!this.listener || this.backlog.length > 0) {
      this.backlog.push(f)
      this.backlogBytes += f.length
      return
    }
    try {
      this.listener(f)
    } catch (e) {
      this.close(`frame listener failed: ${(e as Error)?.message ?? e}`)
    }
  }

  /** Drop acknowledged frames; false when that completed a lingering close. */
  private acked(ack: number): boolean {
    let progress = false
    for (const [seq, f] of this.inflight) {
      if (seq > ack) break
      if (seq === ack && f.tx === 1) this.sample(this.h.now() - f.firstSent)
      this.inflight.delete(seq)
      this.inflightBytes -= f.frame?.length ?? 0
      progress = true
    }
    if (!progress) return true
    this.rtoTimer?.cancel()
    this.rtoTimer = undefined
    if (this.inflight.size > 0) this.armRto()
    else if (this.state === 'lingering') {
      this.done()
      return false
    }
    return true
  }

  /** Jacobson/Karels RTT estimate (RFC 6298). */
  private sample(rtt: number): void {
    if (this.srtt === undefined) {
      this.srtt = rtt
      this.rttvar = rtt / 2
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt)
      this.srtt = 0.875 * this.srtt + 0.125 * rtt
    }
    const o = this.h.opts
    this.rto = Math.min(o.maxRtoMs, Math.max(o.minRtoMs, this.srtt + 4 * this.rttvar))
  }

  private pump(): void {
    if (!this.established || this.state !== 'open') return
    const o = this.h.opts
    while (this.queue.length > 0) {
      const next = this.queue[0]!
      const fits =
        this.inflight.size === 0 ||
        (this.inflight.size < o.windowFrames && this.inflightBytes + next.frame.length <= o.windowBytes)
      if (!fits) break
      this.queue.shift()
      const seq = this.nextSeq++
      this.inflight.set(seq, { frame: next.frame, digest: next.digest, firstSent: this.h.now(), tx: 1 })
      this.inflightBytes += next.frame.length
      this.bytesOut += next.frame.length
      this.h.counters.framesSent++
      this.h.counters.frameBytes += next.frame.length
      this.transmit(seq)
      next.resolve()
    }
  }

  private transmit(seq: number): void {
    const f = this.inflight.get(seq)!
    if (f.fin !== undefined) this.datagram('fin', { seq, reason: f.fin })
    else this.datagram('data', { seq, payload: f.frame!, digest: f.digest })
    if (!this.rtoTimer) this.armRto()
  }

  private armRto(): void {
    this.rtoTimer = this.h.timer(this.rto, () => {
      this.rtoTimer = undefined
      if (this.state === 'done' || this.inflight.size === 0) return
      this.rto = Math.min(this.h.opts.maxRtoMs, this.rto * 2)
      for (const [seq, f] of this.inflight) {
        f.tx++
        this.h.counters.retransmits++
        this.transmit(seq)
      }
      if (!this.rtoTimer) this.armRto()
    })
  }

  /** Keepalive and idle check, once per keepalive period until done. */
  private tick(): void {
    const o = this.h.opts
    this.tickTimer = this.h.timer(o.keepaliveMs, () => {
      this.tickTimer = undefined
      if (this.state === 'done') return
      const now = this.h.now()
      if (this.established && now - this.lastHeard >= o.idleTimeoutMs) {
        if (this.state === 'open') this.h.counters.timeouts++
        this.fail({ reason: 'timed out', local: false })
        return
      }
      if (this.established && this.state === 'open' && now - this.lastSent >= o.keepaliveMs) {
        this.datagram('ping')
      }
      this.tick()
    })
  }

  private datagram(
    kind: Datagram['kind'],
    extra: { seq?: number; payload?: Uint8Array; digest?: string; reason?: string; ackAll?: number } = {},
  ): void {
    this.lastSent = this.h.now()
    const d: Datagram = {
      from: this.h.nodeId,
      to: this.remoteId,
      conn: this.id,
      kind,
      seq: extra.seq ?? 0,
      ack: extra.ackAll ?? this.expected - 1,
      bytes: HEADER_BYTES + (extra.payload?.length ?? 0),
    }
    if (extra.payload) {
      d.payload = extra.payload
      d.digest = extra.digest!
    }
    if (extra.reason !== undefined) d.reason = extra.reason
    this.h.emit(d)
  }

  private rejectQueued(err: Error): void {
    for (const q of this.queue.splice(0)) q.reject(err)
  }

  /** Closed by the network or the remote (or a failed dial): no FIN to send. */
  private fail(info: CloseInfo): void {
    const wasOpen = this.state === 'open'
    this.rejectQueued(new Error(`connection closed: ${info.reason}`))
    this.done()
    if (this.dialWait) {
      this.closeInfo = info
      this.dialWait.reject(new Error(info.reason))
      this.dialWait = undefined
      return
    }
    if (wasOpen) this.announce(info)
  }

  private announce(info: CloseInfo): void {
    this.closeInfo = info
    for (const l of this.closeListeners.splice(0)) l(info)
  }

  private done(): void {
    if (this.state === 'done') return
    this.state = 'done'
    this.rtoTimer?.cancel()
    this.tickTimer?.cancel()
    this.rtoTimer = undefined
    this.tickTimer = undefined
    this.inflight.clear()
    this.inflightBytes = 0
    this.reorder.clear()
    this.h.forget(this.id)
  }
}
