/**
 * The branch of an open, written file: staged extents over committed content.
 *
 * A branch never copies its base. It records which byte ranges the handle
 * wrote (held in a sparse staging file at the same offsets), the lowest size
 * the handle truncated to, and the size it set. Its content is defined over
 * ANY committed version `L` (normally the latest, so non-overlapping writes
 * of two handles both survive):
 *
 *   byte o = staged byte              if o is in a written extent
 *          = L's byte                 else if o < min(truncMin, L.size)
 *          = 0                        otherwise (sparse / truncated-away)
 *
 *   size   = the size set by the last truncate, grown by later writes, or,
 *            if the handle never truncated, max(L.size, end of written extents).
 */
import type { ByteRange, ContentStore, FileRef, RandomAccessSource } from '../store/types.js'
import type { ContentVersion } from '../sync/types.js'
import { RangeSet } from './range-set.js'
import type { StagingFile } from './staging.js'

export class Branch {
  readonly dirty = new RangeSet()
  /** Lowest size truncated to; Infinity when the handle never truncated. */
  truncMin = Number.POSITIVE_INFINITY
  /** Size set by truncate (and grown by writes after it). */
  explicitSize: number | undefined
  /** Any write or truncate since the last commit. */
  changed = false
  /** mtime set through the handle after its last write (wins over the commit time). */
  mtime: number | undefined
  /**
   * While the handle has only appended: the offset its appends began at. Its
   * bytes then follow the LATEST end of the file, wherever that is (two
   * appending handles both keep their records, like O_APPEND writers on
   * POSIX).
   */
  private appendFrom: number | undefined
  private onlyAppends = true

  constructor(
    /** The committed version the branch started from (informational: commits replay onto the latest). */
    readonly base: ContentVersion | null,
    readonly staging: StagingFile,
  ) {}

  size(latest: FileRef | null): number {
    if (this.explicitSize !== undefined) return this.explicitSize
    return Math.max(latest?.size ?? 0, this.dirty.end + this.shift(latest))
  }

  /** Write at `offset` (branch coordinates of the latest content). */
  async write(latest: FileRef | null, offset: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return
    await this.settle(latest)
    await this.put(offset, data)
  }

  /** Append at the end of the latest content (O_APPEND). */
  async append(latest: FileRef | null, data: Uint8Array): Promise<void> {
    if (data.length === 0) return
    if (!this.onlyAppends) return this.put(this.size(latest), data)
    this.appendFrom ??= latest?.size ?? 0
    await this.put(Math.max(this.appendFrom, this.dirty.end), data)
  }

  async truncate(latest: FileRef | null, size: number): Promise<void> {
    await this.settle(latest)
    this.dirty.truncate(size)
    await this.staging.truncate(size)
    this.truncMin = Math.min(this.truncMin, size)
    this.explicitSize = size
    this.changed = true
    this.mtime = undefined
  }

  /** Bytes [offset, offset+length) of this branch applied to `latest`, clipped to the branch size. */
  async read(
    store: ContentStore,
    latest: FileRef | null,
    offset: number,
    length: number,
  ): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size(latest))
    if (end <= offset) return new Uint8Array(0)
    const out = new Uint8Array(end - offset)
    const below = Math.min(this.truncMin, latest?.size ?? 0)
    const s = this.shift(latest)
    for (const p of this.dirty.pieces(offset - s, end - s)) {
      const at = p.start + s
      if (p.inSet) {
        out.set(await this.staging.read(p.start, p.end - p.start), at - offset)
      } else if (latest && at < below) {
        const n = Math.min(p.end + s, below) - at
        out.set(await store.read(latest, at, n), at - offset)
      }
    }
    return out
  }

  /** The branch applied to `latest`, as a source for `store.rewrite`. */
  source(store: ContentStore, latest: FileRef | null): RandomAccessSource {
    const size = this.size(latest)
    return { size, read: (offset, length) => this.read(store, latest, offset, length) }
  }

  /** Ranges where the branch applied to `latest` may differ from `latest`. */
  dirtyRanges(latest: FileRef | null): ByteRange[] {
    const size = this.size(latest)
    const base = latest?.size ?? 0
    const s = this.shift(latest)
    const all = new RangeSet()
    for (const r of this.dirty.toArray()) all.add(r.start + s, Math.min(r.end + s, size))
    if (this.truncMin < base) all.add(this.truncMin, size)
    if (size > base) all.add(base, size)
    return all.toArray()
  }

  /** How far staged bytes sit from their place over `latest` (non-zero only for pure appends). */
  private shift(latest: FileRef | null): number {
    if (!this.onlyAppends || this.appendFrom === undefined) return 0
    return (latest?.size ?? 0) - this.appendFrom
  }

  private async put(offset: number, data: Uint8Array): Promise<void> {
    await this.staging.write(offset, data)
    const end = offset + data.length
    this.dirty.add(offset, end)
    if (this.explicitSize !== undefined) this.explicitSize = Math.max(this.explicitSize, end)
    this.changed = true
    this.mtime = undefined
  }

  /**
   * Before a positioned write or a truncate: pin appended bytes where they
   * now appear (over `latest`), so the handle's view does not jump.
   */
  private async settle(latest: FileRef | null): Promise<void> {
    if (!this.onlyAppends) return
    const s = this.shift(latest)
    this.onlyAppends = false
    if (s === 0 || this.dirty.isEmpty) return
    const from = this.appendFrom!
    const end = this.dirty.end
    const piece = 1024 * 1024
    // Move [from, end) by s in place, in an order that never overwrites unread bytes.
    const starts: number[] = []
    for (let o = from; o < end; o += piece) starts.push(o)
    if (s > 0) starts.reverse()
    for (const o of starts) {
      const data = await this.staging.read(o, Math.min(piece, end - o))
      await this.staging.write(o + s, data)
    }
    this.dirty.truncate(0)
    this.dirty.add(from + s, end + s)
  }
}
