/** Human output: sizes, modes, dates and aligned tables. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** `1536` → `1.5 KiB`; bytes below 1 KiB stay exact (`512 B`). */
export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`
}

/** `ls -l` style mode string from a full st_mode (`drwxr-xr-x`). */
export function modeString(mode: number): string {
  const type = (mode & 0o170000) >>> 0
  const t = type === 0o040000 ? 'd' : type === 0o120000 ? 'l' : type === 0o100000 ? '-' : '?'
  let s = t
  const rwx = 'rwxrwxrwx'
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-'
  return s
}

/** ISO 8601 (UTC) for human output; JSON keeps ms epoch numbers. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** Permission bits as 4 octal digits (`0644`). */
export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

/** Align columns; `right` lists the columns to right-align (numbers). */
export function table(rows: string[][], right: number[] = []): string[] {
  const widths: number[] = []
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length)
    })
  }
  return rows.map((r) =>
    r
      .map((c, i) => {
        if (i === r.length - 1 && !right.includes(i)) return c
        return right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)
      })
      .join('  ')
      .trimEnd(),
  )
}

/** Dedup ratio as shown by `df` (`1.00x`). */
export function ratioText(r: number): string {
  return `${r.toFixed(2)}x`
}
