/**
 * Membership proofs (PROTOCOL.md section 4): the entries a member sends with
 * `open` let a replica that has not heard of it yet admit it — and admit
 * nothing more — while a non-member's entries admit no one.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemberLog, MemoryMemberLogStore, signEntry } from '../../sync/membership.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { decodeMessage, encodeMessage } from '../../sync/wire/codec.js'
import { type Signer, signerFromSeed } from '../../sync/wire/ed25519.js'

const TREE = '7a'.repeat(16)
const signer = (i: number): Signer => signerFromSeed(new Uint8Array(32).fill(i + 40))
const opts = (s: Signer, rt: ManualRuntime) => ({
  tree: TREE,
  store: new MemoryMemberLogStore(),
  clock: rt.clock,
  random: rt.random,
  signer: s,
})

test('a member admitted while a replica was away is admitted there by its proof; a non-member by none', () => {
  const rt = new ManualRuntime(3)
  const [a, b, x, c, m] = [0, 1, 2, 3, 4].map(signer) as [Signer, Signer, Signer, Signer, Signer]
  const logA = MemberLog.create({ ...opts(a, rt), signer: a })
  logA.add(b.nodeId, 'writer')
  const away = MemberLog.fromWelcome(opts(b, rt), logA.entries()) // b's replica, then b goes away
  rt.advance(10)
  logA.add(x.nodeId, 'admin')
  const logX = MemberLog.fromWelcome(opts(x, rt), logA.entries())
  rt.advance(10)
  logX.add(c.nodeId, 'writer') // c was admitted by x, an admin a made while b was away
  logA.add(m.nodeId, 'reader') // not in c's chain
  logA.merge(logX.entries())

  assert.equal(away.roleOf(c.nodeId), undefined)
  const proof = logA.proof(c.nodeId)
  // The genesis, x's add (by a) and c's add (by x): not the unrelated reader.
  assert.equal(proof.length, 3)
  assert.deepEqual(proof[0], logA.entries()[0])
  const merged = away.merge(proof)
  assert.equal(merged.rejected, 0)
  assert.equal(away.roleOf(c.nodeId), 'writer')
  assert.equal(away.roleOf(x.nodeId), 'admin')
  assert.equal(away.roleOf(m.nodeId), undefined, 'a proof admits its chain only')

  // A non-member has no proof; entries it signs itself admit no one.
  assert.deepEqual(logA.proof(signer(9).nodeId), [])
  const forged = signEntry(signer(9), {
    tree: TREE,
    op: 'add',
    node: signer(9).nodeId,
    role: 'admin',
    time: rt.clock.now(),
    nonce: new Uint8Array(8),
  })
  const r = away.merge([away.entries()[0]!, forged])
  assert.equal(r.added, 0)
  assert.equal(away.roleOf(signer(9).nodeId), undefined)
})

test('open carries the proof on the wire (optional: an open without one is unchanged)', () => {
  const rt = new ManualRuntime(4)
  const a = signer(0)
  const log = MemberLog.create({ ...opts(a, rt), signer: a })
  const members = log.proof(a.nodeId)
  const withProof = decodeMessage(encodeMessage({ type: 'open', channel: 3, tree: TREE, members }))
  assert.deepEqual(withProof, { type: 'open', channel: 3, tree: TREE, members })
  const bare = encodeMessage({ type: 'open', channel: 3, tree: TREE })
  assert.deepEqual(decodeMessage(bare), { type: 'open', channel: 3, tree: TREE })
  assert.equal(bare.length, 1 + 1 + 16, 'type, channel varint, tree id: the version-1 layout')
})
