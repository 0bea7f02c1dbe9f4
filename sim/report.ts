/**
 * `bt sim --report FILE.html`: one self-contained page (inline SVG and CSS,
 * no script, no external asset): per node a timeline of when it ran, crashed,
 * was cut off, and last changed; partitions as bands across all nodes; the
 * final heal and convergence; message volume over time; the summary.
 */
import type { SimResult, TimelineEvent } from './run.js'

const W = 1000
const LEFT = 70
const ROW = 14

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

interface Span {
  from: number
  to: number
}

/** Intervals from open/close events of one node. */
function spans(
  events: TimelineEvent[],
  open: string,
  close: string,
  end: number,
  startOpen: boolean,
): Span[] {
  const out: Span[] = []
  let since: number | undefined = startOpen ? 0 : undefined
  for (const e of events) {
    if (e.kind === open && since === undefined) since = e.at
    else if (e.kind === close && since !== undefined) {
      out.push({ from: since, to: e.at })
      since = undefined
    }
  }
  if (since !== undefined) out.push({ from: since, to: end })
  return out
}

export function renderReport(r: SimResult): string {
  const end = Math.max(1, r.virtualMs)
  const x = (t: number) => LEFT + (Math.max(0, Math.min(end, t)) / end) * (W - LEFT - 10)
  const n = r.nodes.length
  // Two label lines above the rows: the heal and convergence lines can be close together.
  const top = 36
  const rowsH = n * ROW
  const svg: string[] = []
  // Partitions: bands over every row.
  const parts = r.timeline.filter((e) => e.kind === 'partition' || e.kind === 'heal')
  let open: TimelineEvent | undefined
  const bands: { from: number; to: number; groups?: number[][] }[] = []
  for (const e of parts) {
    if (e.kind === 'partition') open = e
    else if (open) {
      bands.push({ from: open.at, to: e.at, ...(open.groups ? { groups: open.groups } : {}) })
      open = undefined
    }
  }
  if (open) bands.push({ from: open.at, to: end, ...(open.groups ? { groups: open.groups } : {}) })
  for (const b of bands) {
    svg.push(
      `<rect x="${x(b.from)}" y="${top}" width="${Math.max(1, x(b.to) - x(b.from))}" height="${rowsH}" class="part"><title>partition ${esc(
        (b.groups ?? []).map((g) => `{${g.join(',')}}`).join(' | '),
      )} ${(b.from / 1000).toFixed(1)}–${(b.to / 1000).toFixed(1)} s</title></rect>`,
    )
  }
  // Offline bursts still running at the end of the workload end there: everything is reconnected.
  const workloadEnd = r.timeline.find((e) => e.kind === 'workload-end')?.at ?? end
  for (const node of r.nodes) {
    const y = top + node.index * ROW
    const mine = r.timeline.filter((e) => e.node === node.index)
    const late = mine.some((e) => e.kind === 'join')
    svg.push(`<g class="row" data-node="${node.index}">`)
    svg.push(`<text x="4" y="${y + ROW - 4}" class="lbl">${node.index} ${esc(node.role)}</text>`)
    // Running: from the start (or join) until a crash, again from each restart.
    const runEvents = mine
      .filter((e) => ['crash', 'restart', 'join'].includes(e.kind))
      .map((e) => ({ ...e, kind: e.kind === 'join' ? 'restart' : e.kind }) as TimelineEvent)
    for (const s of spans(runEvents, 'restart', 'crash', end, !late)) {
      svg.push(
        `<rect x="${x(s.from)}" y="${y + 2}" width="${Math.max(1, x(s.to) - x(s.from))}" height="${ROW - 4}" class="up"/>`,
      )
    }
    for (const e of mine.filter((m) => m.kind === 'crash')) {
      svg.push(
        `<rect x="${x(e.at) - 1}" y="${y + 1}" width="3" height="${ROW - 2}" class="crash"><title>crash at ${(e.at / 1000).toFixed(1)} s</title></rect>`,
      )
    }
    for (const s of spans(mine, 'isolate', 'reconnect', workloadEnd, false)) {
      svg.push(
        `<rect x="${x(s.from)}" y="${y + 4}" width="${Math.max(1, x(s.to) - x(s.from))}" height="${ROW - 8}" class="iso"><title>offline burst</title></rect>`,
      )
    }
    if (node.lastChangeMs > 0) {
      svg.push(
        `<circle cx="${x(node.lastChangeMs)}" cy="${y + ROW / 2}" r="2.5" class="last"><title>last change ${(node.lastChangeMs / 1000).toFixed(1)} s</title></circle>`,
      )
    }
    for (const e of mine.filter((m) => m.kind === 'leave')) {
      svg.push(
        `<rect x="${x(e.at)}" y="${y + 2}" width="${Math.max(1, x(end) - x(e.at))}" height="${ROW - 4}" class="gone"><title>left: removed by the admin at ${(e.at / 1000).toFixed(1)} s, refused by every member since</title></rect>`,
      )
    }
    for (const e of mine.filter((m) => m.kind === 'join')) {
      const jx = x(e.at)
      svg.push(
        `<path d="M${jx - 5} ${y + 1}L${jx} ${y + ROW / 2}L${jx - 5} ${y + ROW - 1}Z" class="join"><title>joined by invitation at ${(e.at / 1000).toFixed(1)} s</title></path>`,
      )
    }
    svg.push('</g>')
  }
  const heal = [...r.timeline].reverse().find((e) => e.kind === 'workload-end')
  const conv = r.timeline.find((e) => e.kind === 'converged')
  for (const [e, cls, label, ly] of [
    [heal, 'heal', 'workload end + heal', top - 4],
    [conv, 'conv', 'converged', top - 18],
  ] as const) {
    if (e) {
      // Labels near the right edge end at their line instead of running off the picture.
      const right = x(e.at) > W - 140
      svg.push(`<line x1="${x(e.at)}" y1="${ly - 10}" x2="${x(e.at)}" y2="${top + rowsH}" class="${cls}"/>`)
      svg.push(
        `<text x="${x(e.at) + (right ? -3 : 3)}" y="${ly}" class="lbl"${right ? ' text-anchor="end"' : ''}>${label}</text>`,
      )
    }
  }
  // Message volume.
  const vTop = top + rowsH + 30
  const vH = 120
  const maxV = Math.max(1, ...r.volume)
  const bw = (W - LEFT - 10) / Math.max(1, Math.ceil(end / r.bucketMs))
  r.volume.forEach((b, i) => {
    if (!b) return
    const h = (b / maxV) * vH
    svg.push(
      `<rect x="${LEFT + i * bw}" y="${vTop + vH - h}" width="${Math.max(0.5, bw)}" height="${h}" class="vol"><title>${(i * r.bucketMs) / 1000} s: ${b} bytes</title></rect>`,
    )
  })
  svg.push(`<text x="4" y="${vTop + 10}" class="lbl">bytes/${r.bucketMs / 1000}s</text>`)
  svg.push(`<text x="4" y="${vTop + 24}" class="lbl">max ${fmtBytes(maxV)}</text>`)
  const axisY = vTop + vH + 14
  const tick = niceStep(end / 10)
  for (let t = 0; t <= end; t += tick) {
    svg.push(`<text x="${x(t)}" y="${axisY}" class="lbl" text-anchor="middle">${fmtSeconds(t)}</text>`)
  }
  const height = axisY + 10
  const ok = r.violations.length === 0
  const rows: [string, string][] = [
    ['command', r.command],
    ['result', ok ? 'no violation' : `${r.violations.length} violation(s)`],
    ['trace hash', r.traceHash],
    ['operations', `${r.ops.total} (${r.ops.ok} acknowledged, ${r.ops.refused} refused with a POSIX code)`],
    [
      'messages',
      `${r.messages.frames} frames, ${fmtBytes(r.messages.frameBytes)}; ${r.messages.datagrams} datagrams, ${r.messages.dropped} dropped, ${r.messages.retransmits} retransmitted`,
    ],
    ['virtual time', `${(r.virtualMs / 1000).toFixed(1)} s`],
    ['wall time', `${(r.wallMs / 1000).toFixed(1)} s`],
    [
      'converged after the final heal',
      r.convergeMs === null ? 'never' : `${(r.convergeMs / 1000).toFixed(1)} s`,
    ],
  ]
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bt sim seed ${r.seed}</title>
<style>
body{font:14px system-ui,sans-serif;margin:20px;color:#222}
table{border-collapse:collapse;margin-bottom:16px}td{padding:2px 10px;border-bottom:1px solid #ddd;vertical-align:top}
.lbl{font:10px monospace;fill:#333}.up{fill:#8fd19e}.crash{fill:#d33}.iso{fill:#f0a030}
.part{fill:#9ec5fe;opacity:.45}.last{fill:#222}.heal{stroke:#06c;stroke-dasharray:4 3}.conv{stroke:#090;stroke-width:2}
.vol{fill:#6c8ebf}.join{fill:#7a3cc8}.gone{fill:#888;opacity:.7}.bad{color:#b00}pre{white-space:pre-wrap}
</style></head><body>
<h1>bt sim — seed ${r.seed}</h1>
<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<p>Rows: nodes (green: running; red: crash; orange: cut off for an offline burst; purple triangle: joined late by invitation; grey: left the tree, removed by the admin; dot: its last change).
Blue bands: partitions. Lines: end of the workload with every partition healed (dashed), convergence (solid).</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">
${svg.join('\n')}
</svg>
${ok ? '' : `<h2 class="bad">Violations</h2><pre>${esc(r.violations.map((v) => `[${(v.at / 1000).toFixed(1)} s] ${v.kind}: ${v.detail}`).join('\n'))}</pre>`}
</body></html>
`
}

/** 1, 2 or 5 times a power of ten, at least `raw` (axis ticks fall on round seconds). */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, raw)))
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

function fmtSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`
}

function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`
  if (b < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`
  return `${(b / 1024 ** 2).toFixed(1)} MiB`
}
