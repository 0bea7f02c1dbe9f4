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

  constructor(
    /** The committed version the branch started from (informational: commits replay onto the latest). */
    readonly base: ContentVersion | null,
    readonly staging: StagingFile,
  ) {}

  size(latest: FileRef | null): number {
    if (this.explicitSize !== undefined) return this.explicitSize
    return Math.max(latest?.size ?? 0, this.dirty.end)
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return
    await this.staging.write(offset, data)
    const end = offset + data.length
    this.dirty.add(offset, end)
    if (this.explicitSize !== undefined) this.explicitSize = Math.max(this.explicitSize, end)
    this.changed = true
    this.mtime = undefined
  }

  async truncate(size: number): Promise<void> {
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
    for (const p of this.dirty.pieces(offset, end)) {
      if (p.inSet) {
        out.set(await this.staging.read(p.start, p.end - p.start), p.start - offset)
      } else if (latest && p.start < below) {
        const n = Math.min(p.end, below) - p.start
        out.set(await store.read(latest, p.start, n), p.start - offset)
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
    const all = new RangeSet()
    for (const r of this.dirty.toArray()) all.add(r.start, Math.min(r.end, size))
    if (this.truncMin < base) all.add(this.truncMin, size)
    if (size > base) all.add(base, size)
    return all.toArray()
  }
}
