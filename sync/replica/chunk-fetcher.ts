/**
 * Fetching chunks of one tree from the peers that have it open.
 *
 * What to fetch: under fetch policy 'all', the chunks missing for every
 * visible content version (once when a channel opens, then for the inodes
 * each remote change touched); under 'demand', those of `pinned()` and
 * whatever `demand()` asks for (a read of a missing chunk). A file's missing
 * manifest comes first (`store.missing` cannot see below it); once every id
 * found for a file has arrived, the file is scanned again, which finds the
 * chunks below the manifests that arrived — until nothing is missing.
 * Chunks already stored are never asked for, so an interrupted transfer
 * resumes where it stopped, and a rename (same refs) costs nothing.
 *
 * How: one queue of wanted ids in insertion order; each is asked of one
 * peer at a time (a hyperswarm connection preferred over another transport
 * to the same node: iroh bulk throughput is low), within a per-peer window
 * of ids and estimated bytes. An id found through a remote change is asked
 * first of the peer that delivered that change (it had the change first, so
 * it holds the chunk or is fetching it, and then answers once it arrives:
 * chunk-server.ts), otherwise of the peer with the most room. `nochunk`, a timeout, a closed channel or data
 * that does not hash to its id moves the id to another peer (the node that
 * failed is not asked again for it until a channel opens or anti-entropy
 * runs).
 *
 * Arrived chunks are committed in batches (`store.putVerifiedMany`: one
 * transaction per COMMIT_BYTES, or after COMMIT_LINGER_MS, or at once when a
 * read waits or nothing else is on the way), which checks each against its
 * id; only then is a chunk counted, served, or given to a waiting read. An
 * arrived chunk leaves its peer's window at once, so asking runs ahead of
 * the commits; at most COMMIT_BYTES wait for one.
 */
import type { ChunkId, FileRef } from '../../store/types.js'
import type { Runtime } from '../runtime.js'
import type { InodeId } from '../types.js'
import { LIMITS, type ProtocolErrorCode } from '../wire/messages.js'
import type { Channel } from './channel.js'
import { refuseHeld, tellAbandoned } from './chunk-server.js'
import type { TreeEntry } from './tree-entry.js'
import type { EngineEvent } from './types.js'

/** Per-peer window: ids asked and not answered. */
export const WINDOW_IDS = 64
/** Per-peer window: estimated bytes asked and not answered. */
export const WINDOW_BYTES = 8 * 1024 * 1024
/** Longest a peer's want is held while this node fetches the id itself (then: nochunk). */
export const HOLD_MS = 1000
/** Held wants per channel (beyond it: nochunk at once). */
const HOLD_MAX = 4096
/** Arrived chunks are committed once this many bytes wait (one transaction, one sync). */
export const COMMIT_BYTES = 4 * 1024 * 1024
/** ... or this long after the first of them arrived. */
export const COMMIT_LINGER_MS = 20

export interface FetcherHooks {
  emit(e: EngineEvent): void
  /** A chunk was verified and stored (peers that asked us for it in vain can be told). */
  stored(id: ChunkId): void
  /** Count and report a bad answer (the peer stays connected). */
  reject(node: string, code: ProtocolErrorCode, reason: string): void
  log(line: string): void
}

interface Want {
  id: ChunkId
  /** Keys of the files whose scan found this id. */
  refs: Set<string>
  /** Nodes that did not deliver it (nochunk, timeout, bad data). */
  tried: Set<string>
  from: Channel | undefined
  /** The node that delivered the change naming this id (asked first), if any. */
  hint: string | undefined
  /** Arrived and waiting in the commit batch. */
  arrived: boolean
  deadline: number
  waiters: ((data: Uint8Array | undefined) => void)[]
}

export class ChunkFetcher {
  private readonly wants = new Map<ChunkId, Want>()
  /** Ids waiting for a peer, in the order they will be asked. */
  private readonly queued = new Set<ChunkId>()
  private readonly inflight = new Map<Channel, Set<ChunkId>>()
  /** Files being completed: the ids their last scan found still outstanding. */
  private readonly files = new Map<string, { ref: FileRef; ids: Set<ChunkId> }>()
  private scans: Promise<void> = Promise.resolve()
  /** Inodes remote changes touched since the last scan, and the node that delivered each change. */
  private readonly remoteInodes = new Map<InodeId, string | undefined>()
  private remoteTimer: { cancel(): void } | undefined
  private timeoutTimer: { cancel(): void } | undefined
  /** Arrived chunks not committed yet, and who sent each. */
  private batch: { w: Want; ch: Channel; data: Uint8Array }[] = []
  private batchBytes = 0
  private commitTimer: { cancel(): void; soon: boolean } | undefined
  private avgChunk = 256 * 1024
  private closed = false
  /** Whether every visible version was scanned once (under 'all'). */
  private scannedAll = false
  /** Chunk ids asked of peers so far (a resumed transfer asks only for what is missing). */
  idsAsked = 0

  constructor(
    private readonly entry: TreeEntry,
    private readonly runtime: Runtime,
    private readonly opts: { chunkTimeoutMs: number; fetchTimeoutMs: number },
    private readonly hooks: FetcherHooks,
  ) {}

  /** Chunks wanted and not yet received. */
  get wanted(): number {
    return this.wants.size
  }

  /**
   * A channel of this tree went live: retry everything parked. The first time
   * (and under 'demand', for the pinned files each time) scan what should be
   * local; after that, remote changes say what is new.
   */
  channelOpened(): void {
    for (const w of this.wants.values()) w.tried.clear()
    if (!this.scannedAll || this.entry.r.fetchPolicy() === 'demand') this.scanPolicy()
    this.pump()
  }

  /** Anti-entropy: give parked ids another round of peers; pinned files are rescanned. */
  tick(): void {
    for (const w of this.wants.values()) w.tried.clear()
    if (this.entry.r.fetchPolicy() === 'demand') this.scanPolicy()
    this.pump()
  }

  /**
   * Remote changes touched these inodes: under 'all', fetch what their content
   * needs (coalesced). Called while the change is applied, so
   * `entry.applyingFrom` names the peer that delivered it.
   */
  remoteChange(inodes: InodeId[]): void {
    if (this.closed || this.entry.r.fetchPolicy() !== 'all') return
    const from = this.entry.applyingFrom
    for (const i of inodes) this.remoteInodes.set(i, from)
    this.remoteTimer ??= this.runtime.timers.setTimeout(() => {
      this.remoteTimer = undefined
      const touched = [...this.remoteInodes]
      this.remoteInodes.clear()
      if (this.closed) return
      const refs: FileRef[] = []
      const hints = new Map<string, string>()
      for (const [ino, node] of touched) {
        for (const c of this.entry.r.tree.liveContents([ino])) {
          refs.push(c.ref)
          if (node !== undefined) hints.set(refKey(c.ref), node)
        }
      }
      this.scan(refs, hints)
    }, 0)
  }

  /**
   * Hold the want of the peer on `ch` for `id`, which is not stored here:
   * when this fetcher has asked a node other than that peer for it and waits
   * for the answer (the two never wait on each other). The hold ends when the
   * chunk arrives (it is sent), when that ask fails, or after HOLD_MS
   * (`nochunk`: a slow or dead source delays the asker no longer than that).
   * Returns false when not held (answer `nochunk` now).
   */
  hold(ch: Channel, id: ChunkId): boolean {
    const w = this.wants.get(id)
    if (this.closed || !w?.from || w.from.remote === ch.remote) return false
    if (ch.held.size >= HOLD_MAX || ch.held.has(id)) return ch.held.has(id)
    const timer = this.runtime.timers.setTimeout(() => refuseHeld(ch, id), HOLD_MS)
    ch.held.set(id, timer)
    return true
  }

  /** Fetch one chunk for a read: its stored bytes once verified, undefined after fetchTimeoutMs. */
  demand(id: ChunkId): Promise<Uint8Array | undefined> {
    if (this.closed) return Promise.resolve(undefined)
    const have = this.entry.r.store.getStored(id)
    if (have) return Promise.resolve(have)
    return new Promise((resolve) => {
      const w = this.want(id)
      let done = false
      const finish = (data: Uint8Array | undefined) => {
        if (done) return
        done = true
        timer.cancel()
        resolve(data)
      }
      const timer = this.runtime.timers.setTimeout(() => {
        const i = w.waiters.indexOf(finish)
        if (i >= 0) w.waiters.splice(i, 1)
        if (w.waiters.length === 0 && w.refs.size === 0) this.drop(w)
        finish(undefined)
      }, this.opts.fetchTimeoutMs)
      w.waiters.push(finish)
      // Already here, waiting for its batch: commit now rather than after the linger.
      if (w.arrived) this.scheduleCommit(true)
      this.pump()
    })
  }

  /** A `chunk` frame arrived on `ch` (`data` is kept until the batch commits). */
  onChunk(ch: Channel, id: ChunkId, data: Uint8Array): void {
    const w = this.wants.get(id)
    // Not wanted (any more: a late answer after a timeout or a demand that gave up), or a
    // second copy of one already waiting for the commit.
    if (!w || w.arrived || this.closed) return
    w.arrived = true
    // Out of the sender's window now: the next asks need not wait for the commit.
    this.release(w)
    this.queued.delete(id)
    this.batch.push({ w, ch, data })
    this.batchBytes += data.length
    if (this.batchBytes >= COMMIT_BYTES) this.commit()
    else this.scheduleCommit(w.waiters.length > 0 || this.inflightCount() === 0)
    this.pump()
  }

  /** The peer on `ch` does not hold these ids. */
  onNochunk(ch: Channel, ids: ChunkId[]): void {
    for (const id of ids) {
      const w = this.wants.get(id)
      if (!w || w.from !== ch) continue
      this.release(w)
      w.tried.add(ch.remote)
      this.requeue(w)
    }
    this.pump()
  }

  /** The peer on `ch` now holds these ids (it lacked them when asked): it may be asked again. */
  onHave(ch: Channel, ids: ChunkId[]): void {
    for (const id of ids) this.wants.get(id)?.tried.delete(ch.remote)
    this.pump()
  }

  /** A channel closed: what was asked of it goes back to the queue (no blame). */
  channelClosed(ch: Channel): void {
    const ids = this.inflight.get(ch)
    this.inflight.delete(ch)
    for (const id of ids ?? []) {
      const w = this.wants.get(id)
      if (!w) continue
      w.from = undefined
      this.requeue(w)
    }
    this.pump()
  }

  close(): void {
    // What arrived is kept (a restart need not fetch it again).
    this.commit()
    this.closed = true
    this.remoteTimer?.cancel()
    this.timeoutTimer?.cancel()
    for (const w of this.wants.values()) for (const waiter of w.waiters.splice(0)) waiter(undefined)
    this.wants.clear()
    this.queued.clear()
    this.inflight.clear()
    this.files.clear()
  }

  // ---- internals ----

  private inflightCount(): number {
    let n = 0
    for (const set of this.inflight.values()) n += set.size
    return n
  }

  /** Commit the batch after COMMIT_LINGER_MS, or on the next turn when `soon`. */
  private scheduleCommit(soon: boolean): void {
    if (this.commitTimer && (this.commitTimer.soon || !soon)) return
    this.commitTimer?.cancel()
    const t = this.runtime.timers.setTimeout(
      () => {
        this.commitTimer = undefined
        this.commit()
      },
      soon ? 0 : COMMIT_LINGER_MS,
    )
    this.commitTimer = { cancel: () => t.cancel(), soon }
  }

  /** Store the arrived chunks in one transaction; then count, serve and hand out those that matched. */
  private commit(): void {
    this.commitTimer?.cancel()
    this.commitTimer = undefined
    if (this.closed || this.batch.length === 0) return
    const batch = this.batch
    this.batch = []
    this.batchBytes = 0
    let ok: boolean[]
    try {
      ok = this.entry.r.store.putVerifiedMany(batch.map((b) => ({ id: b.w.id, data: b.data })))
    } catch (e) {
      this.hooks.log(`${batch.length} chunks: store failed: ${(e as Error).message}`)
      // Asked again later (no peer blamed): a full disk may have room by then.
      for (const { w } of batch) {
        w.arrived = false
        if (this.wants.get(w.id) === w) this.requeue(w)
      }
      return
    }
    const scans: FileRef[] = []
    batch.forEach(({ w, ch, data }, i) => {
      w.arrived = false
      // Dropped meanwhile (a read gave up and no file needs it): stored all the same.
      const wanted = this.wants.get(w.id) === w
      if (!ok[i]) {
        this.hooks.reject(ch.remote, 'EMALFORMED', `chunk ${w.id} does not match its id`)
        if (wanted) {
          w.tried.add(ch.remote)
          this.requeue(w)
        }
        return
      }
      if (wanted) this.wants.delete(w.id)
      this.entry.chunksReceived++
      this.avgChunk = Math.round(this.avgChunk * 0.9 + data.length * 0.1)
      for (const waiter of w.waiters.splice(0)) waiter(data)
      this.hooks.emit({ type: 'chunk', tree: this.entry.id, id: w.id, from: ch.remote, bytes: data.length })
      this.hooks.stored(w.id)
      for (const key of w.refs) {
        const f = this.files.get(key)
        if (!f) continue
        f.ids.delete(w.id)
        if (f.ids.size === 0) {
          this.files.delete(key)
          scans.push(f.ref)
        }
      }
    })
    if (scans.length > 0) this.scan(scans)
    this.pump()
  }

  private scanPolicy(): void {
    const r = this.entry.r
    if (r.fetchPolicy() === 'all') {
      this.scannedAll = true
      this.scan(r.tree.liveContents().map((c) => c.ref))
    } else if (r.pinned) this.scan([...r.pinned()])
  }

  /**
   * Find the missing ids of files (one scan at a time, in call order) and
   * queue them; `hints`: per file key, the node to ask first.
   */
  private scan(refs: FileRef[], hints?: Map<string, string>): void {
    if (refs.length === 0) return
    this.scans = this.scans.then(async () => {
      const seen = new Set<string>()
      for (const ref of refs) {
        const key = refKey(ref)
        if (this.closed) return
        if (seen.has(key) || this.files.has(key)) continue
        seen.add(key)
        let ids: ChunkId[]
        try {
          ids = await this.entry.r.store.missing(ref)
        } catch (e) {
          this.hooks.log(`tree ${this.entry.id}: cannot scan ${ref.id}: ${(e as Error).message}`)
          continue
        }
        if (this.closed || ids.length === 0) continue
        const f = { ref, ids: new Set<ChunkId>() }
        const hint = hints?.get(key)
        for (const id of ids) {
          const w = this.want(id)
          w.refs.add(key)
          w.hint ??= hint
          f.ids.add(id)
        }
        this.files.set(key, f)
      }
      this.pump()
    })
  }

  private want(id: ChunkId): Want {
    let w = this.wants.get(id)
    if (!w) {
      w = {
        id,
        refs: new Set(),
        tried: new Set(),
        from: undefined,
        hint: undefined,
        arrived: false,
        deadline: 0,
        waiters: [],
      }
      this.wants.set(id, w)
      this.queued.add(id)
    }
    return w
  }

  private drop(w: Want): void {
    this.release(w)
    this.wants.delete(w.id)
    this.queued.delete(w.id)
    // Peers whose want for it we held get their answer now.
    tellAbandoned(this.entry, w.id)
  }

  private release(w: Want): void {
    if (w.from) this.inflight.get(w.from)?.delete(w.id)
    w.from = undefined
  }

  private requeue(w: Want): void {
    // Re-added at the end: ids that failed go after those not tried yet.
    this.queued.delete(w.id)
    this.queued.add(w.id)
    // Peers whose want for it we held were waiting on the ask that just failed: they ask elsewhere.
    tellAbandoned(this.entry, w.id)
  }

  /** Ask peers for queued ids, within each peer's window. */
  private pump(): void {
    if (this.closed || this.queued.size === 0) return
    const candidates = this.preferredChannels()
    if (candidates.length === 0) return
    const perPeer = Math.max(1, Math.min(WINDOW_IDS, Math.floor(WINDOW_BYTES / Math.max(1, this.avgChunk))))
    const room = (ch: Channel) => perPeer - (this.inflight.get(ch)?.size ?? 0)
    // Ask in batches (a quarter window at a time, or whatever is left to ask), not one id per
    // arrival: fewer `want` frames to encode, send, decode and queue on both sides.
    const least = Math.min(Math.ceil(perPeer / 4), this.queued.size)
    const askable = candidates.filter((c) => room(c) >= least || !this.inflight.get(c)?.size)
    if (askable.length === 0) return
    const batches = new Map<Channel, ChunkId[]>()
    const now = this.runtime.clock.now()
    // Deleting the current entry while iterating a Set is safe; nothing is added during the walk.
    for (const id of this.queued) {
      const open = askable.filter((c) => room(c) > 0)
      if (open.length === 0) break
      const w = this.wants.get(id)!
      let best: Channel | undefined
      for (const c of open) {
        if (w.tried.has(c.remote)) continue
        if (c.remote === w.hint) {
          best = c
          break
        }
        if (!best || room(c) > room(best)) best = c
      }
      if (!best) continue
      this.queued.delete(id)
      w.from = best
      w.deadline = now + this.opts.chunkTimeoutMs
      let set = this.inflight.get(best)
      if (!set) {
        set = new Set()
        this.inflight.set(best, set)
      }
      set.add(id)
      let batch = batches.get(best)
      if (!batch) {
        batch = []
        batches.set(best, batch)
      }
      batch.push(id)
    }
    for (const [ch, ids] of batches) {
      for (let i = 0; i < ids.length; i += LIMITS.ids)
        ch.send({ type: 'want', ids: ids.slice(i, i + LIMITS.ids) })
      this.idsAsked += ids.length
    }
    if (batches.size > 0) this.armTimeout()
  }

  /** Live channels to ask: per node, its hyperswarm channels when it has any, else all of them. */
  private preferredChannels(): Channel[] {
    const live = this.entry.live()
    const swarm = new Set(live.filter((c) => c.link.conn.transport === 'hyperswarm').map((c) => c.remote))
    return live.filter((c) => c.link.conn.transport === 'hyperswarm' || !swarm.has(c.remote))
  }

  private armTimeout(): void {
    if (this.timeoutTimer) return
    this.timeoutTimer = this.runtime.timers.setTimeout(() => {
      this.timeoutTimer = undefined
      this.expire()
    }, this.opts.chunkTimeoutMs)
  }

  /** Ids a peer did not answer in time go to another peer. */
  private expire(): void {
    if (this.closed) return
    const now = this.runtime.clock.now()
    let pending = false
    for (const [ch, ids] of this.inflight) {
      for (const id of [...ids]) {
        const w = this.wants.get(id)
        if (!w) {
          ids.delete(id)
          continue
        }
        if (w.deadline > now) {
          pending = true
          continue
        }
        this.release(w)
        w.tried.add(ch.remote)
        this.requeue(w)
      }
    }
    this.pump()
    if (pending) this.armTimeout()
  }
}

/** A file's key in `files` and in the scan hints. */
function refKey(ref: FileRef): string {
  return `${ref.id}:${ref.size}`
}
