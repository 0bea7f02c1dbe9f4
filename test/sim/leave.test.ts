/**
 * Members that leave for good (`bt sim --leave N`): hand-off, removal by the
 * admin through the real membership log, and the checks that a departed node
 * gets nothing new and its later writes reach no one.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEFAULTS, reproduceCommand, type SimOptions, validate } from '../../sim/options.js'
import { runSim } from '../../sim/run.js'

const opts = (o: Partial<SimOptions>): SimOptions => validate({ ...DEFAULTS, ...o })
const show = (v: { kind: string; detail: string }[]) => v.map((x) => `${x.kind}: ${x.detail}`).join('\n')

describe('bt sim --leave', () => {
  test('two writers leave amid partitions and crashes: removed, the rest converge, nothing lost', async () => {
    for (const seed of [3, 5]) {
      const o = opts({ nodes: 5, steps: 120, seed, leaves: 2, partitions: 0.02, crashes: 0.02, loss: 0.02 })
      const r = await runSim(o)
      assert.equal(r.violations.length, 0, `seed ${seed}:\n${show(r.violations)}`)
      assert.ok(r.converged)
      const left = r.timeline.filter((e) => e.kind === 'leave').map((e) => e.node)
      assert.deepEqual(left.sort(), [3, 4], `seed ${seed}: the two highest writers left`)
      assert.match(reproduceCommand(o), /--leave 2/)
    }
  })

  test('same seed, same trace with departures', async () => {
    const o = opts({ nodes: 4, steps: 60, seed: 9, leaves: 1, crashes: 0.03 })
    const [a, b] = [await runSim(o), await runSim(o)]
    assert.equal(a.violations.length, 0, show(a.violations))
    assert.equal(a.traceHash, b.traceHash)
  })

  test('revocation not enforced by one node (--inject keep-removed) is caught', async () => {
    const r = await runSim(opts({ nodes: 5, steps: 200, seed: 4, leaves: 1, breakage: 'keep-removed' }))
    const kinds = new Set(r.violations.map((v) => v.kind))
    assert.ok(
      kinds.has('role') || kinds.has('revoked'),
      `a departed node kept talking to node 1 unnoticed: ${show(r.violations)}`,
    )
  })

  test('--leave is bounded by the writers available', () => {
    assert.throws(() => opts({ nodes: 3, leaves: 3 }), /--leave must be an integer in 0\.\.2/)
    assert.throws(() => opts({ nodes: 4, late: 2, leaves: 2 }), /--leave must be an integer in 0\.\.1/)
  })
})
