/**
 * Virtual time. One queue of events ordered by (time, sequence number) drives
 * every simulated node: their timers, the network's deliveries, the
 * workload's operations. After each event the microtask queue is drained
 * (promise chains of the real node code settle) before the next one runs, so
 * a run is a pure function of its seed. Every executed event is folded into
 * the trace hash: time, kind, node and a digest of its payload.
 */
import { createHash, type Hash } from 'node:crypto'
import type { Runtime, Timers } from '../sync/runtime.js'
import type { Rng } from './rng.js'

/** A scheduled event's handle. */
export interface Cancel {
  cancel(): void
}

interface Ev {
  at: number
  seq: number
  kind: string
  node: string
  detail: string
  fn: () => void
  live: boolean
}

/** Virtual start time of every run: 2026-01-01T00:00:00Z. */
export const SIM_EPOCH = Date.UTC(2026, 0, 1)

/** Why `run` returned. */
export type RunEnd = 'idle' | 'until' | 'stopped' | 'max-events'

export class Scheduler {
  private heap: Ev[] = []
  private seq = 0
  private t = SIM_EPOCH
  private readonly trace: Hash = createHash('sha256')
  /** Trace lines not yet hashed: one hash update per batch, not per event (same bytes, same hash). */
  private traceLines: string[] = []
  /** Events executed so far. */
  executed = 0
  /** Exceptions thrown by event handlers (node code that would crash a real process). */
  readonly errors: { at: number; node: string; kind: string; error: string }[] = []

  /** Virtual now, ms since the Unix epoch. */
  now(): number {
    return this.t
  }

  /** Virtual ms since the run started. */
  elapsed(): number {
    return this.t - SIM_EPOCH
  }

  /** Events waiting (cancelled ones included until they surface). */
  get pending(): number {
    return this.heap.length
  }

  /**
   * Run `fn` after `delay` virtual ms. `kind` and `node` name the event in
   * the trace; `detail` (e.g. a message digest) is hashed with them.
   */
  schedule(delay: number, kind: string, node: string, fn: () => void, detail = ''): Cancel {
    const d = Number.isFinite(delay) && delay > 0 ? delay : 0
    const ev: Ev = { at: this.t + d, seq: this.seq++, kind, node, detail, fn, live: true }
    this.push(ev)
    return {
      cancel: () => {
        ev.live = false
      },
    }
  }

  /** SHA-256 over every event executed so far (hex). */
  traceHash(): string {
    this.flushTrace()
    return this.trace.copy().digest('hex')
  }

  /**
   * Execute events in order until the queue is empty ('idle'), the next event
   * is past `until` (the clock then stands at `until`), `stop()` says so
   * (checked after each event), or `maxEvents` ran.
   */
  async run(opts: { until?: number; stop?: () => boolean; maxEvents?: number } = {}): Promise<RunEnd> {
    const limit = opts.maxEvents ?? Number.POSITIVE_INFINITY
    let n = 0
    for (;;) {
      const ev = this.pop()
      if (!ev) return 'idle'
      if (opts.until !== undefined && ev.at > opts.until) {
        this.push(ev)
        this.t = Math.max(this.t, opts.until)
        return 'until'
      }
      this.t = ev.at
      this.executed++
      this.traceLines.push(`${ev.at}|${ev.kind}|${ev.node}|${ev.detail}\n`)
      if (this.traceLines.length >= 4096) this.flushTrace()
      try {
        ev.fn()
      } catch (e) {
        this.errors.push({ at: ev.at, node: ev.node, kind: ev.kind, error: String((e as Error)?.stack ?? e) })
      }
      await drainMicrotasks()
      if (opts.stop?.()) return 'stopped'
      if (++n >= limit) return 'max-events'
    }
  }

  /**
   * Wait for `p` while running events (node code that waits on a virtual
   * timer or a message only progresses while the scheduler runs). Rejects
   * when `p` is still pending after `maxMs` virtual ms or nothing is left to run.
   */
  async settle<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
    let done = false
    p.then(
      () => {
        done = true
      },
      () => {
        done = true
      },
    )
    await drainMicrotasks()
    const end = this.t + maxMs
    while (!done) {
      const why = await this.run({ until: end, stop: () => done })
      if (why === 'idle' || why === 'until') break
    }
    if (!done) throw new Error(`still pending after ${maxMs} virtual ms`)
    return p
  }

  /**
   * A node's Runtime: the shared virtual clock, the node's own random
   * stream and timers that `kill()` cancels all at once (a crash).
   */
  runtime(node: string, rng: Rng): NodeRuntime {
    return new NodeRuntime(this, node, rng)
  }

  private flushTrace(): void {
    if (this.traceLines.length === 0) return
    this.trace.update(this.traceLines.join(''))
    this.traceLines = []
  }

  private push(ev: Ev): void {
    const h = this.heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  private pop(): Ev | undefined {
    const h = this.heap
    for (;;) {
      const top = h[0]
      if (!top) return undefined
      const last = h.pop()!
      if (h.length > 0) {
        h[0] = last
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          const r = l + 1
          let m = i
          if (l < h.length && before(h[l]!, h[m]!)) m = l
          if (r < h.length && before(h[r]!, h[m]!)) m = r
          if (m === i) break
          ;[h[i], h[m]] = [h[m]!, h[i]!]
          i = m
        }
      }
      if (top.live) return top
    }
  }
}

function before(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/**
 * Let every promise continuation queued so far run: a macrotask turn runs
 * only after the microtask queue is empty. Nothing in a simulated node waits
 * on real I/O, so this settles everything the event started.
 */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** The Runtime handed to one incarnation of a simulated node. */
export class NodeRuntime implements Runtime {
  readonly clock: { now(): number }
  readonly random: { bytes(n: number): Uint8Array }
  readonly timers: Timers
  private readonly live = new Set<Cancel>()
  private dead = false

  constructor(sched: Scheduler, node: string, rng: Rng) {
    // Whole milliseconds, like Date.now() (signed entries refuse fractions).
    this.clock = { now: () => Math.floor(sched.now()) }
    this.random = { bytes: (n) => rng.bytes(n) }
    this.timers = {
      setTimeout: (fn, ms) => {
        if (this.dead) return { cancel() {} }
        const h: Cancel = sched.schedule(ms, 'timer', node, () => {
          this.live.delete(h)
          fn()
        })
        const handle = {
          cancel: () => {
            h.cancel()
            this.live.delete(h)
          },
        }
        this.live.add(h)
        return handle
      },
    }
  }

  /** Timers still pending. */
  get timerCount(): number {
    return this.live.size
  }

  /** Cancel every pending timer and refuse new ones (the node crashed or stopped). */
  kill(): void {
    this.dead = true
    for (const h of this.live) h.cancel()
    this.live.clear()
  }
}
