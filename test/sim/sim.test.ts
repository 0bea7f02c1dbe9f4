import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEFAULTS, reproduceCommand, type SimOptions } from '../../sim/options.js'
import { runSim } from '../../sim/run.js'
import { shrink } from '../../sim/shrink.js'
import { parseMix } from '../../sim/workload.js'

const opts = (o: Partial<SimOptions>): SimOptions => ({ ...DEFAULTS, ...o })

/** Every violation on one line each, for assertion messages. */
const show = (v: { kind: string; detail: string }[]) => v.map((x) => `${x.kind}: ${x.detail}`).join('\n')

describe('bt sim', () => {
  test('same seed and options: the same trace hash; another seed: another', async () => {
    const o = opts({
      nodes: 3,
      steps: 30,
      seed: 11,
      loss: 0.05,
      reorder: 0.1,
      crashes: 0.03,
      partitions: 0.03,
    })
    const a = await runSim(o)
    const b = await runSim(o)
    assert.equal(a.violations.length, 0, show(a.violations))
    assert.equal(a.traceHash, b.traceHash)
    assert.deepEqual(a.ops, b.ops)
    assert.equal(a.messages.frames, b.messages.frames)
    const c = await runSim({ ...o, seed: 12 })
    assert.notEqual(c.traceHash, a.traceHash)
  })

  // Sweep: many seeds on small swarms with every fault on, short runs (every fault kind still
  // happens across the sweep, which is checked). BT_SIM_SEEDS widens it, BT_SIM_STEPS lengthens each run.
  const seeds = Number(process.env.BT_SIM_SEEDS ?? 300)
  const extraSteps = Number(process.env.BT_SIM_STEPS ?? 0)
  // A writer leaves for good in every third run (BT_SIM_LEAVES=0 turns that off).
  const withLeaves = process.env.BT_SIM_LEAVES !== '0'
  test(`${seeds} seeds on 3-4 node swarms with loss, duplication, reordering, partitions, crashes, readers, late joins${withLeaves ? ', leaves' : ''}`, async (t) => {
    const failures: string[] = []
    /** How many runs saw each fault or event at least once. */
    const seen = new Map<string, number>()
    const saw = (what: string, yes: boolean) => {
      if (yes) seen.set(what, (seen.get(what) ?? 0) + 1)
    }
    for (let seed = 1; seed <= seeds; seed++) {
      const nodes = 3 + (seed % 2)
      const readers = seed % 4 === 0 ? 1 : 0
      const late = seed % 5 === 0 ? 1 : 0
      const o = opts({
        seed,
        nodes,
        steps: 6 + (seed % 4) * 4 + extraSteps,
        loss: 0.03,
        dup: 0.01,
        reorder: 0.05,
        partitions: 0.08,
        crashes: 0.08,
        readers,
        late,
        // A writer leaves for good in every third run, where one besides the admin is left to leave.
        leaves: withLeaves && seed % 3 === 0 && nodes - 1 - readers - late >= 1 ? 1 : 0,
        spotEvery: 5,
      })
      const r = await runSim(o)
      if (r.violations.length > 0) failures.push(`${reproduceCommand(o)}\n${show(r.violations)}`)
      assert.ok(r.convergeMs !== null || r.violations.length > 0)
      for (const kind of ['partition', 'crash', 'restart', 'join', 'leave', 'isolate'] as const)
        saw(
          kind,
          r.timeline.some((e) => e.kind === kind),
        )
      saw('loss', r.messages.dropped > 0)
      saw('duplication', r.messages.duplicated > 0)
      saw('reordering', r.messages.reordered > 0)
      saw('retransmit', r.messages.retransmits > 0)
      saw('refused op', r.ops.refused > 0)
      saw(
        'reader',
        r.nodes.some((n) => n.role === 'reader'),
      )
      for (const [kind, n] of Object.entries(r.ops.byKind)) saw(`op ${kind}`, n > 0)
    }
    assert.deepEqual(failures, [])
    t.diagnostic(`runs that saw each fault: ${JSON.stringify(Object.fromEntries(seen))}`)
    // A regression that quietly disables a fault (or an operation) must not pass: across a sweep
    // of this size every one happens in several runs (narrow sweeps only report).
    if (seeds >= 100) {
      const kinds = [
        'partition',
        'crash',
        'restart',
        'join',
        ...(withLeaves ? ['leave'] : []),
        'isolate',
        'loss',
        'duplication',
        'reordering',
      ]
      const ops = ['create', 'write', 'append', 'rename', 'move', 'delete', 'mkdir', 'rmdir', 'burst']
      for (const k of [...kinds, 'retransmit', 'refused op', 'reader', ...ops.map((o) => `op ${o}`)])
        assert.ok((seen.get(k) ?? 0) >= 5, `only ${seen.get(k) ?? 0} of ${seeds} runs saw ${k}`)
    }
  })

  test('a larger swarm: 24 nodes, sparse topology, every fault, converges with nothing lost', async () => {
    const r = await runSim(
      opts({
        nodes: 24,
        steps: 300,
        seed: 5,
        degree: 4,
        loss: 0.05,
        dup: 0.02,
        reorder: 0.1,
        partitions: 0.02,
        crashes: 0.02,
        readers: 2,
        late: 2,
        opIntervalMs: 100,
      }),
    )
    assert.deepEqual(show(r.violations), '')
    assert.ok(r.converged)
    assert.ok(
      r.timeline.some((e) => e.kind === 'crash'),
      'the run had crashes',
    )
    assert.ok(
      r.timeline.some((e) => e.kind === 'partition'),
      'the run had partitions',
    )
    assert.equal(r.timeline.filter((e) => e.kind === 'join').length, 2, 'both late nodes joined')
    assert.ok(r.ops.ok > 50, `acknowledged ops: ${r.ops.ok}`)
  })

  test('a deliberately broken merge (stale view on node 1) is caught, and shrinking keeps it failing', async () => {
    const o = opts({ nodes: 3, steps: 40, seed: 3, breakage: 'stale-view', settleMs: 60_000 })
    const r = await runSim(o)
    assert.ok(r.violations.length > 0, 'the broken node went unnoticed')
    const s = await shrink(o, r, { maxTries: 4 })
    assert.ok(s.result.violations.length > 0)
    assert.ok(s.options.steps <= o.steps && s.options.nodes <= o.nodes)
    assert.ok(s.options.steps < o.steps || s.options.nodes < o.nodes || s.tries === 4)
    // The same run without the bug is clean.
    const clean = await runSim({ ...o, breakage: 'none' })
    assert.equal(clean.violations.length, 0, show(clean.violations))
  })

  test('workload mixes parse, and bad ones are refused', () => {
    assert.equal(parseMix('create=30,write=5').create, 30)
    assert.equal(parseMix('create=30,write=5').rename, 0)
    assert.throws(() => parseMix('create=x'), RangeError)
    assert.throws(() => parseMix('explode=3'), RangeError)
    assert.throws(() => parseMix('create=0'), RangeError)
  })
})
