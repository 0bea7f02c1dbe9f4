/**
 * Access control with real processes: a reader's write, a revoked member's
 * write and a join with a used-up ticket never reach the admin's tree; the
 * revoked member's connection is dropped and it gets nothing new.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type BtNode, Cluster, converged, poll, sleep, snapshot } from './harness.js'
import { invite, joinAs, peersOf, treeMembers } from './sync-cli.js'

/** Long enough for a change that would be accepted to have arrived (it is pushed at once). */
const SETTLE_MS = 3000

describe('access control', () => {
  test('reader, revoked member and a used ticket: nothing accepted, revoked connection dropped', async (t) => {
    const c = await Cluster.start(t, { transport: 'iroh' })
    await c.run(async () => {
      const [a, r, w, x] = (await c.addUp('admin', 'reader', 'writer', 'outsider')) as [
        BtNode,
        BtNode,
        BtNode,
        BtNode,
      ]
      await a.ok(['tree', 'create', 'docs'])
      await a.ok(['put', '-', 'docs:/hello.txt'], { input: 'hello\n' })
      const readerTicket = await joinAs(a, r, 'docs', 'reader')
      await joinAs(a, w, 'docs', 'writer')
      await converged([a, r, w], 'docs', (s) => '/hello.txt' in s)

      // The reader writes: refused at once (its changes would never be accepted), nothing reaches the others.
      const put = await r.bt(['put', '-', 'docs:/from-reader.txt'], { input: 'reader was here\n' })
      assert.equal(put.status, 1, `a reader's put: ${put.stdout} ${put.stderr}`)
      assert.match(put.stderr, /Read-only file system/)
      await a.ok(['put', '-', 'docs:/barrier-1.txt'], { input: '1\n' })
      await poll('the reader to still receive', async () => '/barrier-1.txt' in (await snapshot(r, 'docs')))
      await sleep(SETTLE_MS)
      for (const n of [a, w]) {
        const s = await snapshot(n, 'docs')
        assert.ok(
          !('/from-reader.txt' in s),
          `${n.name} accepted a reader's write (reader's put exited ${put.status}: ${put.stderr})`,
        )
      }

      // Revoke the writer: its connections to a are dropped and it gets nothing new.
      await a.ok(['tree', 'remove-member', 'docs', w.nodeId])
      await poll('a to drop the revoked member', async () => {
        const p = (await peersOf(a)).find((q) => q.node === w.nodeId)
        return p === undefined || !p.trees.some((tr) => tr.tree === 'docs')
      })
      assert.ok(!(await treeMembers(a, 'docs')).some((m) => m.node === w.nodeId))
      await w.bt(['put', '-', 'docs:/from-revoked.txt'], { input: 'revoked\n' })
      await a.ok(['put', '-', 'docs:/after-revoke.txt'], { input: 'secret\n' })
      await poll(
        'the reader to get the post-revocation change',
        async () => '/after-revoke.txt' in (await snapshot(r, 'docs')),
      )
      await sleep(SETTLE_MS)
      assert.ok(!('/after-revoke.txt' in (await snapshot(w, 'docs'))), 'the revoked member got a new change')
      for (const n of [a, r])
        assert.ok(!('/from-revoked.txt' in (await snapshot(n, 'docs'))), `${n.name} accepted a revoked write`)
      // Its attempts to come back are refused, and a says so in its log.
      assert.ok(
        a.grep(new RegExp(`refused ${w.nodeId.slice(0, 8)}: (ENOTMEMBER|EFORBIDDEN)`)).length > 0,
        'no refusal logged',
      )

      // An outsider with a ticket that was already redeemed: refused, nothing added anywhere.
      const membersBefore = await treeMembers(a, 'docs')
      const j = await x.bt(['join', readerTicket], { timeoutMs: 90_000 })
      assert.equal(j.status, 1, `join with a used ticket: ${j.stdout} ${j.stderr}`)
      assert.match(j.stderr, /invit|used|expired/i)
      assert.deepEqual((await x.json<unknown[]>(['tree', 'list'])).length, 0)
      assert.deepEqual(await treeMembers(a, 'docs'), membersBefore)
      assert.ok(
        a.grep(new RegExp(`refused ${x.nodeId.slice(0, 8)}: EINVITE`)).length > 0,
        'no refusal logged',
      )
      // An unused ticket still works afterwards (the failed attempt did not break the inviter).
      const fresh = await invite(a, 'docs', 'reader')
      await x.ok(['join', fresh], { timeoutMs: 90_000 })
      await converged([a, x], 'docs', (s) => '/after-revoke.txt' in s)
    })
  })
})
