/**
 * The `--report` page opened in a real headless Chromium (issue 6: "its
 * report opens in a browser"): what a person would see. One row per node,
 * inside the picture; a crash mark per crash, a band per partition, a marker
 * per late join; the message-volume chart has a bar per busy second; the
 * labels stay inside the picture and do not overlap; no script error, no
 * request other than the page itself. BT_SIM_SCREENSHOT=FILE.png keeps a
 * screenshot of the page for a person to look at.
 *
 * Needs Debian `chromium` (BT_CHROMIUM=path overrides). Without it the test
 * fails under CI=true and is skipped elsewhere.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { DEFAULTS } from '../../sim/options.js'
import { renderReport } from '../../sim/report.js'
import { runSim } from '../../sim/run.js'
import { tmpDir } from '../helpers/tmp.js'
import { Browser, chromiumMissing } from './chromium.js'

const missing = chromiumMissing()
const inCi = process.env.CI === 'true' || process.env.CI === '1'
const skip = missing && !inCi ? `${missing}; CI fails here` : false

/** What the page shows, measured by the browser's layout (CSS pixels). */
interface Seen {
  svg: { width: number; height: number }
  viewportWidth: number
  pageWidth: number
  rows: {
    node: string
    label: string
    top: number
    bottom: number
    up: number
    crash: number
    join: number
  }[]
  bands: { top: number; bottom: number; width: number }[]
  bars: { height: number; top: number; bottom: number }[]
  labels: { text: string; left: number; right: number; top: number; bottom: number; width: number }[]
  table: string[]
  violationsShown: boolean
}

const MEASURE = `(() => {
  const svg = document.querySelector('svg')
  const s = svg.getBoundingClientRect()
  const box = (el) => { const b = el.getBoundingClientRect(); return { left: b.left - s.left, right: b.right - s.left, top: b.top - s.top, bottom: b.bottom - s.top, width: b.width, height: b.height } }
  return {
    svg: { width: s.width, height: s.height },
    viewportWidth: window.innerWidth,
    pageWidth: document.documentElement.scrollWidth,
    rows: [...svg.querySelectorAll('g.row')].map((g) => ({
      node: g.dataset.node,
      label: g.querySelector('text')?.textContent ?? '',
      top: box(g).top, bottom: box(g).bottom,
      up: g.querySelectorAll('rect.up').length,
      crash: g.querySelectorAll('rect.crash').length,
      join: g.querySelectorAll('.join').length,
    })),
    bands: [...svg.querySelectorAll('rect.part')].map((r) => box(r)),
    bars: [...svg.querySelectorAll('rect.vol')].map((r) => box(r)),
    labels: [...svg.querySelectorAll('text')].filter((t) => !t.closest('g.row')).map((t) => ({ text: t.textContent, ...box(t) })),
    table: [...document.querySelectorAll('table tr')].map((tr) => tr.textContent),
    violationsShown: !!document.querySelector('h2.bad'),
  }
})()`

test('the --report page in headless Chromium: rows, crashes, partitions, joins, message volume', {
  skip,
  timeout: 300_000,
}, async (t) => {
  assert.equal(missing, undefined, `CI=true: ${missing}`)
  // A small eventful run: every kind of mark the page draws happens in it (checked below).
  const r = await runSim({
    ...DEFAULTS,
    nodes: 6,
    steps: 60,
    seed: 4,
    loss: 0.02,
    partitions: 0.06,
    crashes: 0.06,
    readers: 1,
    late: 1,
  })
  assert.deepEqual(r.violations, [])
  const count = (kind: string) => r.timeline.filter((e) => e.kind === kind).length
  for (const kind of ['partition', 'crash', 'join', 'converged'])
    assert.ok(count(kind) > 0, `the run had no ${kind}; pick another seed`)
  const dir = tmpDir(t)
  const file = join(dir, 'report.html')
  writeFileSync(file, renderReport(r))
  const url = pathToFileURL(file).href

  const browser = await Browser.launch({ width: 1100, height: 800 })
  t.after(() => browser.close())
  await browser.goto(url)
  const seen = await browser.evaluate<Seen>(MEASURE)
  // The picture as a person sees it: kept where BT_SIM_SCREENSHOT says (to look at), else thrown away.
  const png = await browser.screenshot()
  assert.ok(png.length > 10_000 && png.subarray(1, 4).toString() === 'PNG', 'a screenshot was taken')
  if (process.env.BT_SIM_SCREENSHOT) {
    writeFileSync(process.env.BT_SIM_SCREENSHOT, png)
    t.diagnostic(`screenshot: ${process.env.BT_SIM_SCREENSHOT}`)
  }

  // Nothing but the page itself was requested; no script error, no console error.
  const requests = browser.events
    .filter((e) => e.method === 'Network.requestWillBeSent')
    .map((e) => (e.params.request as { url: string }).url)
  assert.deepEqual(requests, [url])
  const errors = browser.events.filter(
    (e) =>
      e.method === 'Runtime.exceptionThrown' ||
      (e.method === 'Log.entryAdded' && (e.params.entry as { level: string }).level === 'error') ||
      (e.method === 'Runtime.consoleAPICalled' && e.params.type === 'error'),
  )
  assert.deepEqual(errors, [])

  // The picture fits the window: no sideways scrolling.
  assert.ok(seen.svg.width > 500 && seen.svg.height > 100, JSON.stringify(seen.svg))
  assert.ok(
    seen.pageWidth <= seen.viewportWidth,
    `page ${seen.pageWidth} px wide in a ${seen.viewportWidth} px window`,
  )
  // One row per node, in order, each labelled with its index and role, none overlapping the next.
  assert.deepEqual(
    seen.rows.map((row) => row.label),
    r.nodes.map((n) => `${n.index} ${n.role}`),
  )
  for (const [i, row] of seen.rows.entries()) {
    assert.ok(
      row.bottom > row.top && row.top >= 0 && row.bottom <= seen.svg.height,
      `row ${i} inside the picture`,
    )
    if (i > 0) assert.ok(row.top >= seen.rows[i - 1]!.bottom - 0.5, `row ${i} overlaps row ${i - 1}`)
    // Running spans: one per start, restart or join.
    const mine = r.timeline.filter((e) => e.node === i)
    const late = mine.some((e) => e.kind === 'join')
    const starts = mine.filter((e) => e.kind === 'restart' || e.kind === 'join').length + (late ? 0 : 1)
    assert.equal(row.up, starts, `node ${i}: running spans`)
    assert.equal(row.crash, mine.filter((e) => e.kind === 'crash').length, `node ${i}: crash marks`)
    assert.equal(row.join, late ? 1 : 0, `node ${i}: join marker`)
  }
  // A band per partition, across every row.
  assert.equal(seen.bands.length, count('partition'))
  const rowsTop = seen.rows[0]!.top
  const rowsBottom = seen.rows.at(-1)!.bottom
  for (const b of seen.bands) {
    assert.ok(b.width >= 1, 'a partition band is visible')
    assert.ok(b.top <= rowsTop + 2 && b.bottom >= rowsBottom - 2, 'a partition band spans all nodes')
  }
  // The volume chart: a visible bar per second with traffic, below the rows.
  assert.equal(seen.bars.length, r.volume.filter((v) => v > 0).length)
  assert.ok(seen.bars.length > 5)
  for (const b of seen.bars) assert.ok(b.height > 0 && b.top > rowsBottom && b.bottom <= seen.svg.height)
  assert.ok(Math.max(...seen.bars.map((b) => b.height)) > 50, 'the busiest second is a tall bar')
  // Labels outside the rows (heal, converged, axis) stay inside the picture and do not overlap.
  const labels = seen.labels.filter((l) => l.width !== 0)
  for (const l of labels)
    assert.ok(l.left >= 0 && l.right <= seen.svg.width + 0.5, `label '${l.text}' is cut off`)
  for (const [i, a] of labels.entries()) {
    for (const b of labels.slice(i + 1)) {
      const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top
      assert.ok(apart, `labels '${a.text}' and '${b.text}' overlap`)
    }
  }
  assert.ok(labels.some((l) => l.text === 'converged'))
  assert.ok(labels.some((l) => l.text === 'workload end + heal'))
  // The summary table and no violation section.
  assert.ok(seen.table.some((row) => row.includes('trace hash') && row.includes(r.traceHash)))
  assert.ok(seen.table.some((row) => row.startsWith('result') && row.includes('no violation')))
  assert.equal(seen.violationsShown, false)
})
