/**
 * Sequential read-ahead for open handles. A handle whose reads follow each
 * other gets the next window read in the background while the kernel copies
 * out the current one, so a streaming reader finds its next request already
 * decrypted, and each chunk is decrypted once per window instead of once per
 * kernel request that touches it. Random reads pass straight through.
 *
 * "Follow each other" tolerates reordering: libfuse serves requests on
 * several threads, so the kernel's read-ahead of one stream reaches us as
 * e.g. 5, 7, 6, 8. A read landing in a prefetched window, or within a few
 * request lengths of where the stream got to, counts as sequential; only a
 * jump further away drops the windows.
 *
 * A prefetched window is a snapshot: all windows are dropped when anything
 * may have changed what handles read (`invalidate`: a commit through the
 * mount, or a change of the tree from elsewhere), so a reader never gets
 * bytes older than what a direct read would return at that moment.
 */
import type { Fh, Volume } from '../node/volume-types.js'

/** First window; doubles while the handle keeps reading sequentially, up to MAX_WINDOW. */
const MIN_WINDOW = 256 * 1024
const MAX_WINDOW = 2 * 1024 * 1024
/** A read this many request lengths around the stream's end still continues the stream (reordering). */
const REORDER = 4

interface Window {
  start: number
  end: number
  generation: number
  /**
   * The bytes in pieces (shared with the volume's caches: never modified),
   * shorter than asked at end of file; undefined while reading or if the read failed.
   */
  pieces?: Uint8Array[]
  /** Bytes in `pieces`. */
  length: number
  done: Promise<void>
  /** The read came back short: nothing lies beyond this window. */
  eof: boolean
}

interface HandleState {
  /** Where the stream got to: the furthest end of its recent reads. */
  next: number
  /** Consecutive sequential reads. */
  streak: number
  /** Size of the next window. */
  size: number
  /** In stream order: one or two being consumed (reordered requests) and the one after them. */
  windows: Window[]
}

/** Counters, for stats and tests. */
export interface ReadAheadStats {
  /** Reads answered from a prefetched window. */
  hits: number
  /** Windows read in the background. */
  prefetches: number
}

export class ReadAhead {
  private readonly handles = new Map<Fh, HandleState>()
  private generation = 0
  readonly stats: ReadAheadStats = { hits: 0, prefetches: 0 }

  constructor(private readonly volume: Volume) {}

  /** Read [pos, pos+len) of handle `fh` as one buffer (shared when it is one piece, see `readPieces`). */
  async read(fh: Fh, pos: number, len: number): Promise<Uint8Array> {
    const pieces = await this.readPieces(fh, pos, len)
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
  }

  /**
   * Read [pos, pos+len) of handle `fh`, from a prefetched window when one
   * holds it, as pieces shared with the volume's caches: copy them out at
   * once, never modify them.
   */
  async readPieces(fh: Fh, pos: number, len: number): Promise<Uint8Array[]> {
    let s = this.handles.get(fh)
    if (!s) {
      s = { next: -1, streak: 0, size: MIN_WINDOW, windows: [] }
      this.handles.set(fh, s)
    }
    const inWindow = s.windows.some((w) => pos >= w.start && pos + len <= w.end)
    const sequential =
      inWindow || (s.next >= 0 && pos >= s.next - REORDER * len && pos <= s.next + REORDER * len)
    s.streak = sequential ? s.streak + 1 : 0
    s.next = sequential ? Math.max(s.next, pos + len) : pos + len
    if (!sequential) s.windows = []
    let out = await this.fromWindows(s, pos, len)
    if (out) this.stats.hits++
    else out = await this.direct(fh, pos, len)
    if (sequential && s.streak >= 2 && total(out) === len) this.ahead(fh, s, s.next, s.next - REORDER * len)
    return out
  }

  private direct(fh: Fh, pos: number, len: number): Promise<Uint8Array[]> {
    if (this.volume.readShared) return this.volume.readShared(fh, pos, len)
    return this.volume.read(fh, pos, len).then((b) => [b])
  }

  private async fromWindows(s: HandleState, pos: number, len: number): Promise<Uint8Array[] | undefined> {
    const w = s.windows.find((x) => pos >= x.start && pos + len <= x.end)
    if (!w || w.generation !== this.generation) return undefined
    await w.done
    // Still valid after the wait, and the bytes are there (or the file ends inside the window).
    if (!w.pieces || w.generation !== this.generation) return undefined
    const a = pos - w.start
    if (a + len > w.length && !w.eof) return undefined
    return slice(w.pieces, a, Math.min(a + len, w.length))
  }

  /**
   * Keep a window ahead of a sequential reader now at `from`; windows ending
   * after `keepFrom` stay for requests that arrive late (reordered).
   */
  private ahead(fh: Fh, s: HandleState, from: number, keepFrom: number): void {
    s.windows = s.windows.filter((w) => w.generation === this.generation && w.end > keepFrom)
    const last = s.windows[s.windows.length - 1]
    if (!last || last.end <= from) {
      // The stream overtook its last window (reordered requests move `from` in jumps): grow too.
      if (last) s.size = Math.min(MAX_WINDOW, s.size * 2)
      this.start(fh, s, from)
      return
    }
    // Start the next window once the reader is in the second half of the last one.
    const pending = s.windows.filter((w) => w.end > from).length
    if (last.eof || pending > 1 || from < last.start + (last.end - last.start) / 2) return
    s.size = Math.min(MAX_WINDOW, s.size * 2)
    this.start(fh, s, last.end)
  }

  private start(fh: Fh, s: HandleState, start: number): void {
    const size = s.size
    this.stats.prefetches++
    const w: Window = {
      start,
      end: start + size,
      generation: this.generation,
      length: 0,
      eof: false,
      done: Promise.resolve(),
    }
    w.done = this.direct(fh, start, size).then(
      (pieces) => {
        w.pieces = pieces
        w.length = total(pieces)
        w.eof = w.length < size
      },
      () => {
        w.eof = true // the direct read will report the error
      },
    )
    s.windows.push(w)
  }

  /** Something may have changed what handles read: drop every prefetched window. */
  invalidate(): void {
    this.generation++
    for (const s of this.handles.values()) s.windows = []
  }

  /** The handle is closed, or changed its own view (a write): drop its state. */
  forget(fh: Fh): void {
    this.handles.delete(fh)
  }
}

function total(pieces: Uint8Array[]): number {
  let n = 0
  for (const p of pieces) n += p.length
  return n
}

/** Views of bytes [a, b) of the concatenation of `pieces`. */
function slice(pieces: Uint8Array[], a: number, b: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let at = 0
  for (const p of pieces) {
    const end = at + p.length
    if (end > a && at < b) out.push(p.subarray(Math.max(a, at) - at, Math.min(b, end) - at))
    if (end >= b) break
    at = end
  }
  return out
}
