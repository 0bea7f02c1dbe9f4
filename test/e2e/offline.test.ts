/**
 * Offline edits with real processes: one node stops, every node edits
 * (the stopped one through the CLI without a daemon, so with no network),
 * including the same file on two nodes; after the restart all three
 * converge, the concurrent versions are a winner plus a conflict copy that
 * `bt conflicts` lists identically everywhere, and no version is lost.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type BtNode, Cluster, converged, sha256 } from './harness.js'
import { joinAs } from './sync-cli.js'

interface Conflict {
  path: string
  ino: string
  kind: 'content' | 'name'
  copies: { path: string; version: string; node: string; time: number }[]
}

describe('offline edits', () => {
  test('stop one node, edit everywhere, restart: converge with conflict copies, nothing lost', async (t) => {
    const c = await Cluster.start(t, { transport: 'iroh' })
    await c.run(async () => {
      const [a, b, d] = (await c.addUp('a', 'b', 'c')) as [BtNode, BtNode, BtNode]
      await a.ok(['tree', 'create', 'docs'])
      await a.ok(['put', '-', 'docs:/shared.txt'], { input: 'original\n' })
      await a.ok(['put', '-', 'docs:/doomed.txt'], { input: 'to be removed on b\n' })
      await joinAs(a, b, 'docs', 'writer')
      await joinAs(a, d, 'docs', 'writer')
      await converged([a, b, d], 'docs', (s) => '/shared.txt' in s && '/doomed.txt' in s)

      await d.stop()
      // c, offline (no daemon: the CLI opens its data dir and does no networking).
      await d.ok(['put', '-', 'docs:/shared.txt'], { input: 'edited on c, offline\n' })
      await d.ok(['put', '-', 'docs:/only-c.txt'], { input: 'c was offline\n' })
      await d.ok(['mkdir', 'docs:/c-dir'])
      // a and b, online: a edits the same file, b removes and adds.
      await a.ok(['put', '-', 'docs:/shared.txt'], { input: 'edited on a\n' })
      await a.ok(['put', '-', 'docs:/only-a.txt'], { input: 'a\n' })
      await b.ok(['rm', 'docs:/doomed.txt'])
      await b.ok(['put', '-', 'docs:/only-b.txt'], { input: 'b\n' })
      await converged(
        [a, b],
        'docs',
        (s) => '/only-a.txt' in s && '/only-b.txt' in s && !('/doomed.txt' in s),
      )

      await d.up()
      const snap = await converged(
        [a, b, d],
        'docs',
        (s) => '/only-c.txt' in s && '/c-dir' in s && Object.keys(s).some((p) => p.includes('conflict')),
      )
      for (const p of ['/only-a.txt', '/only-b.txt', '/only-c.txt', '/c-dir', '/shared.txt'])
        assert.ok(p in snap, `${p} missing after convergence: ${Object.keys(snap).join(' ')}`)
      assert.ok(!('/doomed.txt' in snap), 'a removal made while c was offline came back')

      // Both concurrent versions of shared.txt survive: one under the name, one as a conflict copy.
      const versions = Object.entries(snap)
        .filter(([p]) => p === '/shared.txt' || /^\/shared\.conflict-.*\.txt$/.test(p))
        .map(([, e]) => e.content)
        .sort()
      assert.deepEqual(versions, [sha256('edited on a\n'), sha256('edited on c, offline\n')].sort())

      const lists = await Promise.all([a, b, d].map((n) => n.json<Conflict[]>(['conflicts', 'docs'])))
      assert.deepEqual(lists[1], lists[0])
      assert.deepEqual(lists[2], lists[0])
      const shared = lists[0]!.find((x) => x.path === '/shared.txt')
      assert.ok(shared, `bt conflicts does not list /shared.txt: ${JSON.stringify(lists[0])}`)
      assert.equal(shared.kind, 'content')
      assert.ok(
        shared.copies.some((k) => /^\/shared\.conflict-.*\.txt$/.test(k.path) && k.path in snap),
        JSON.stringify(shared),
      )
    })
  })
})
