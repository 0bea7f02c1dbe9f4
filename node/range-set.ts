import type { ByteRange } from '../store/types.js'

/**
 * A set of byte offsets kept as sorted, disjoint, non-adjacent half-open
 * ranges. Used for the dirty extents of an open file's branch.
 */
export class RangeSet {
  private ranges: ByteRange[] = []

  get isEmpty(): boolean {
    return this.ranges.length === 0
  }

  /** One past the last covered offset (0 when empty). */
  get end(): number {
    return this.ranges.length === 0 ? 0 : this.ranges[this.ranges.length - 1]!.end
  }

  /** The ranges in order (a copy). */
  toArray(): ByteRange[] {
    return this.ranges.map((r) => ({ ...r }))
  }

  add(start: number, end: number): void {
    if (end <= start) return
    const rs = this.ranges
    // First range whose end reaches start (adjacent ranges merge).
    const i = this.firstEndingAtOrAfter(start)
    let s = start
    let e = end
    let j = i
    while (j < rs.length && rs[j]!.start <= e) {
      s = Math.min(s, rs[j]!.start)
      e = Math.max(e, rs[j]!.end)
      j++
    }
    rs.splice(i, j - i, { start: s, end: e })
  }

  /** Drop everything at or beyond `offset`. */
  truncate(offset: number): void {
    const rs = this.ranges
    while (rs.length > 0 && rs[rs.length - 1]!.start >= offset) rs.pop()
    const last = rs[rs.length - 1]
    if (last && last.end > offset) last.end = offset
  }

  /**
   * Split [start, end) into consecutive pieces, each either inside the set
   * (`inSet` true) or outside it.
   */
  pieces(start: number, end: number): { start: number; end: number; inSet: boolean }[] {
    const out: { start: number; end: number; inSet: boolean }[] = []
    let pos = start
    for (let i = this.firstEndingAtOrAfter(start + 1); i < this.ranges.length && pos < end; i++) {
      const r = this.ranges[i]!
      if (r.start >= end) break
      if (r.start > pos) {
        out.push({ start: pos, end: r.start, inSet: false })
        pos = r.start
      }
      const e = Math.min(r.end, end)
      if (e > pos) {
        out.push({ start: pos, end: e, inSet: true })
        pos = e
      }
    }
    if (pos < end) out.push({ start: pos, end, inSet: false })
    return out
  }

  /** Index of the first range with end >= offset (binary search). */
  private firstEndingAtOrAfter(offset: number): number {
    let lo = 0
    let hi = this.ranges.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ranges[mid]!.end < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
