/**
 * Progress bars for put/get: bytes, rate and ETA (and files for -r), drawn on
 * stderr only when it is a terminal, at most every `intervalMs`. Rendering is
 * a pure function of the state and the width, so it is tested with a fake
 * clock; the bar never touches stdout.
 */
import { humanSize } from './format.js'

export interface ProgressState {
  label: string
  bytes: number
  totalBytes?: number
  files?: number
  totalFiles?: number
  elapsedMs: number
}

/** `1h02m`, `3m07s`, `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

/** One line, at most `width` columns, no newline. */
export function renderProgress(s: ProgressState, width: number): string {
  const secs = s.elapsedMs / 1000
  const rate = secs > 0 ? s.bytes / secs : 0
  const parts: string[] = []
  if (s.totalFiles !== undefined) parts.push(`${s.files ?? 0}/${s.totalFiles} files`)
  parts.push(
    s.totalBytes !== undefined ? `${humanSize(s.bytes)} / ${humanSize(s.totalBytes)}` : humanSize(s.bytes),
  )
  parts.push(`${humanSize(Math.round(rate))}/s`)
  let pct: number | undefined
  if (s.totalBytes !== undefined) {
    pct = s.totalBytes > 0 ? Math.min(1, s.bytes / s.totalBytes) : 1
    const left = s.totalBytes - s.bytes
    parts.push(rate > 0 ? `ETA ${formatDuration(left / rate)}` : 'ETA --')
  }
  const tail = parts.join('  ')
  const pctText = pct === undefined ? '' : `${String(Math.floor(pct * 100)).padStart(3)}% `
  // Label gets what remains after the numbers and a bar of at least 10 columns.
  const fixed = tail.length + pctText.length + 2
  const barWidth = pct === undefined ? 0 : Math.min(30, width - fixed - 14)
  let label = s.label
  const labelRoom = width - fixed - (barWidth >= 10 ? barWidth + 3 : 0)
  if (label.length > labelRoom) label = labelRoom > 4 ? `…${label.slice(label.length - labelRoom + 1)}` : ''
  let bar = ''
  if (pct !== undefined && barWidth >= 10) {
    const full = Math.round(pct * barWidth)
    bar = `[${'#'.repeat(full)}${'.'.repeat(barWidth - full)}] `
  }
  const line = `${label}${label ? '  ' : ''}${bar}${pctText}${tail}`
  return line.length > width ? line.slice(0, width) : line
}

export interface ProgressOptions {
  /** Draw at all (stderr is a TTY and not --quiet). */
  enabled: boolean
  write: (s: string) => void
  now: () => number
  width: number
  label: string
  totalBytes?: number
  totalFiles?: number
  /** Minimum time between redraws (default 100 ms: at most ~10/s). */
  intervalMs?: number
}

export class Progress {
  private bytes = 0
  private files = 0
  private readonly start: number
  private last = Number.NEGATIVE_INFINITY
  private drawn = false
  private label: string

  constructor(private readonly o: ProgressOptions) {
    this.start = o.now()
    this.label = o.label
  }

  /** Count transferred bytes (and redraw if due). */
  add(bytes: number): void {
    this.bytes += bytes
    this.tick()
  }

  /** One more file finished (for -r). */
  fileDone(label?: string): void {
    this.files++
    if (label !== undefined) this.label = label
    this.tick()
  }

  setLabel(label: string): void {
    this.label = label
  }

  state(): ProgressState {
    const s: ProgressState = { label: this.label, bytes: this.bytes, elapsedMs: this.o.now() - this.start }
    if (this.o.totalBytes !== undefined) s.totalBytes = this.o.totalBytes
    if (this.o.totalFiles !== undefined) {
      s.totalFiles = this.o.totalFiles
      s.files = this.files
    }
    return s
  }

  /** Redraw when the interval has passed. */
  tick(): void {
    if (!this.o.enabled) return
    const now = this.o.now()
    if (now - this.last < (this.o.intervalMs ?? 100)) return
    this.last = now
    this.o.write(`\r${renderProgress(this.state(), this.o.width)}\x1b[K`)
    this.drawn = true
  }

  /** Erase the bar (before a warning line, and at the end). */
  clear(): void {
    if (this.drawn) this.o.write('\r\x1b[K')
    this.drawn = false
    this.last = Number.NEGATIVE_INFINITY
  }

  done(): void {
    this.clear()
  }
}

/** Files at least this big get a progress bar in single-file put/get. */
export const PROGRESS_MIN_BYTES = 8 * 1024 * 1024
