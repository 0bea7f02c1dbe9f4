/**
 * Group commit for a path tree: the redo log of staged local mutations.
 *
 * A commit of the path tree (one Automerge change per shard, its incremental
 * save, history rows, view rows) costs far more than the mutations in it. A
 * writer closing many small files one after the other would pay it per file.
 * Instead, `stage()` writes each pending mutation as one small row of
 * `tree_redo`, in the caller's transaction (the one that also stores the
 * file's blobs and references), and the commit follows for a whole group:
 * after a short idle gap, after a maximum age, at `maxEntries`, or whenever
 * anything needs the journal (history, sync, close, a mutation outside the
 * redo vocabulary). The commit deletes the rows in its own transaction.
 *
 * A crash between the two leaves the rows: opening the tree replays them, in
 * order, onto the committed documents they were made on, and commits. So a
 * staged mutation is exactly as durable as a committed one (both are rows of
 * one committed SQLite transaction); only the journal entry comes later.
 */
import type { Runtime } from './runtime.js'
import type { TreeStorage } from './storage.js'
import type { ContentVersion, CreateOptions, InodeId, InodeKind } from './types.js'

/** A local mutation as the redo log keeps it: the call, with the ids and times it drew. */
export type RedoEntry =
  | {
      op: 'create'
      parent: InodeId
      name: string
      kind: InodeKind
      opts: CreateOptions
      ino: InodeId
      /** Creation time (ctime) the create drew from the clock. */
      now: number
    }
  | { op: 'content'; ino: InodeId; content: ContentVersion; attrs: { mode?: number; mtime?: number } }

/** When a staged group is committed. */
export interface GroupCommitOptions {
  /** Commit once no mutation was staged for this long (ms, default 25). */
  delayMs?: number
  /** Commit at the latest this long after the group's first staged mutation (ms, default 100). */
  maxAgeMs?: number
  /** Commit at once when this many mutations are staged (default 256). */
  maxEntries?: number
}

export class RedoLog {
  private entries: RedoEntry[] = []
  private contents = new Set<InodeId>()
  /** Entries [0, written) have rows in `tree_redo`. */
  private written = 0
  /** A pending mutation the log cannot express: the next `stage()` commits instead. */
  private other = false
  private timer: { cancel(): void } | undefined
  private first = 0
  private last = 0
  private readonly delayMs: number
  private readonly maxAgeMs: number
  private readonly maxEntries: number

  constructor(
    private readonly storage: TreeStorage,
    private readonly runtime: Runtime,
    opts: GroupCommitOptions,
    /** Commit every pending mutation (the tree's `commit`). */
    private readonly commit: () => void,
  ) {
    // A writer closing files back to back under load leaves gaps of ~10 ms between closes: the
    // idle gap must exceed that for groups to form.
    this.delayMs = opts.delayMs ?? 25
    this.maxAgeMs = opts.maxAgeMs ?? 100
    this.maxEntries = opts.maxEntries ?? 256
    for (const [k, v] of Object.entries({
      delayMs: this.delayMs,
      maxAgeMs: this.maxAgeMs,
      maxEntries: this.maxEntries,
    })) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`bad group commit ${k} ${v}`)
    }
  }

  /** Entries left by a process that stopped before committing them (oldest first). */
  static saved(storage: TreeStorage): RedoEntry[] {
    return storage.redoEntries().map((d) => JSON.parse(d) as RedoEntry)
  }

  note(e: RedoEntry): void {
    this.entries.push(e)
    if (e.op === 'content') this.contents.add(e.ino)
  }

  /** Whether the group holds a content change of `ino`. */
  hasContent(ino: InodeId): boolean {
    return this.contents.has(ino)
  }

  noteOther(): void {
    this.other = true
  }

  /** Whether some pending mutation has no row yet (a crash now would lose it). */
  get unstaged(): boolean {
    return this.other || this.written < this.entries.length
  }

  /** Whether staged rows await a commit. */
  get staged(): boolean {
    return this.written > 0
  }

  /**
   * Write the rows of pending entries (inside the caller's transaction), or
   * commit when the log cannot hold them or the group is full.
   */
  stage(): void {
    if (this.other || this.entries.length >= this.maxEntries) {
      this.commit()
      return
    }
    for (let i = this.written; i < this.entries.length; i++)
      this.storage.addRedo(JSON.stringify(this.entries[i]))
    const now = this.runtime.clock.now()
    if (this.written === 0) this.first = now
    this.last = now
    this.written = this.entries.length
    this.timer ??= this.runtime.timers.setTimeout(() => this.tick(), this.delayMs)
  }

  /** After a commit (inside its transaction): drop the rows. */
  committed(): void {
    if (this.written > 0) this.storage.clearRedo()
  }

  /** After a commit's transaction succeeded: start a new group. */
  reset(): void {
    this.entries = []
    this.contents = new Set()
    this.written = 0
    this.other = false
    this.timer?.cancel()
    this.timer = undefined
  }

  /** Stop the timer (the tree is closing). */
  stop(): void {
    this.timer?.cancel()
    this.timer = undefined
  }

  private tick(): void {
    this.timer = undefined
    if (this.written === 0) return
    const now = this.runtime.clock.now()
    const idle = now - this.last
    const age = now - this.first
    if (idle < this.delayMs && age < this.maxAgeMs) {
      this.timer = this.runtime.timers.setTimeout(
        () => this.tick(),
        Math.max(1, Math.min(this.delayMs - idle, this.maxAgeMs - age)),
      )
      return
    }
    try {
      this.commit()
    } catch {
      // The rows stay and the group stays pending: the next stage, query or open commits it.
    }
  }
}
