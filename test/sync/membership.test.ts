import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  decodeEntry,
  foldMembership,
  MemberLog,
  MembershipError,
  MemoryMemberLogStore,
  signEntry,
} from '../../sync/membership.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { type Signer, signerFromSeed } from '../../sync/wire/ed25519.js'
import type { Role } from '../../sync/wire/messages.js'

const TREE = '5e'.repeat(16)

function signer(i: number): Signer {
  return signerFromSeed(new Uint8Array(32).fill(i + 1))
}

function logFor(s: Signer | undefined, rt = new ManualRuntime(7), store = new MemoryMemberLogStore()) {
  return { tree: TREE, store, clock: rt.clock, random: rt.random, signer: s }
}

function code(c: string) {
  return (e: unknown) => e instanceof MembershipError && e.code === c
}

describe('membership log', () => {
  const [a, b, c, d] = [signer(0), signer(1), signer(2), signer(3)] as [Signer, Signer, Signer, Signer]

  test('the node id is the public key of the seed (same derivation as node/identity)', async () => {
    const { publicKeyHex } = await import('../../node/identity.js')
    const seed = new Uint8Array(32).fill(9)
    assert.equal(signerFromSeed(seed).nodeId, publicKeyHex(seed))
  })

  test('create, add, change role, remove', () => {
    const rt = new ManualRuntime(1)
    const log = MemberLog.create({ ...logFor(a, rt), signer: a })
    assert.equal(log.creator, a.nodeId)
    assert.deepEqual(log.members(), [{ node: a.nodeId, role: 'admin' }])
    let changes = 0
    log.onChange(() => changes++)
    log.add(b.nodeId, 'writer')
    log.add(c.nodeId, 'reader')
    assert.equal(log.roleOf(b.nodeId), 'writer')
    assert.equal(log.add(b.nodeId, 'writer'), undefined, 'no entry for an unchanged role')
    log.add(b.nodeId, 'admin')
    assert.equal(log.roleOf(b.nodeId), 'admin')
    log.remove(c.nodeId)
    assert.equal(log.roleOf(c.nodeId), undefined)
    assert.ok(log.everWriter(b.nodeId) && log.everWriter(a.nodeId))
    assert.ok(!log.everWriter(c.nodeId), 'a reader never wrote')
    log.add(d.nodeId, 'writer')
    log.remove(d.nodeId)
    assert.ok(log.everWriter(d.nodeId), 'a removed writer keeps its history')
    assert.equal(changes, 6)
    assert.equal(log.entries().length, 7)
    assert.throws(() => log.remove(d.nodeId), code('ENOENT'))
    assert.throws(() => log.remove('ab'.repeat(32)), code('ENOENT'))
    assert.throws(() => log.add('xyz', 'writer'), code('EINVAL'))
    assert.throws(() => log.add(d.nodeId, 'owner' as Role), code('EINVAL'))
  })

  test('only admins sign changes; the last admin cannot leave', () => {
    const log = MemberLog.create({ ...logFor(a), signer: a })
    assert.throws(() => log.remove(a.nodeId), code('EINVAL'))
    assert.throws(() => log.add(a.nodeId, 'writer'), code('EINVAL'))
    log.add(b.nodeId, 'writer')
    const other = MemberLog.fromWelcome(logFor(b), log.entries())
    assert.equal(other.roleOf(b.nodeId), 'writer')
    assert.throws(() => other.add(c.nodeId, 'reader'), code('EFORBIDDEN'))
    const readOnly = MemberLog.fromWelcome(logFor(undefined), log.entries())
    assert.throws(() => readOnly.add(c.nodeId, 'reader'), code('EFORBIDDEN'))
    log.add(b.nodeId, 'admin')
    log.remove(a.nodeId) // b remains an admin
    assert.deepEqual(log.members(), [{ node: b.nodeId, role: 'admin' }])
    assert.throws(() => log.add(c.nodeId, 'reader'), code('EFORBIDDEN'), 'a removed admin signs nothing')
  })

  test('persisted entries reopen to the same roles; a damaged store is ECORRUPT', () => {
    const store = new MemoryMemberLogStore()
    const log = MemberLog.create({ ...logFor(a, undefined, store), signer: a })
    log.add(b.nodeId, 'server')
    log.add(c.nodeId, 'writer')
    log.remove(c.nodeId)
    const again = MemberLog.open(logFor(a, undefined, store))
    assert.deepEqual(again.members(), log.members())
    assert.throws(() => MemberLog.open(logFor(a)), code('ENOENT'))
    assert.throws(() => MemberLog.create({ ...logFor(a, undefined, store), signer: a }), code('EINVAL'))
    const flipped = new MemoryMemberLogStore()
    for (const row of store.rows) flipped.rows.push(row.slice())
    flipped.rows[2]![40]! ^= 1
    assert.throws(() => MemberLog.open(logFor(a, undefined, flipped)), code('ECORRUPT'))
    const noGenesis = new MemoryMemberLogStore()
    noGenesis.rows.push(store.rows[1]!)
    assert.throws(() => MemberLog.open(logFor(a, undefined, noGenesis)), code('ECORRUPT'))
  })

  test('a welcome must start with the genesis of the tree', () => {
    const log = MemberLog.create({ ...logFor(a), signer: a })
    log.add(b.nodeId, 'writer')
    const [genesis, addB] = log.entries() as [Uint8Array, Uint8Array]
    assert.throws(() => MemberLog.fromWelcome(logFor(b), [addB, genesis]), code('EINVAL'))
    assert.throws(() => MemberLog.fromWelcome(logFor(b), []), code('EINVAL'))
    const otherTree = { ...logFor(b), tree: '00'.repeat(16) }
    assert.throws(() => MemberLog.fromWelcome(otherTree, log.entries()), code('EINVAL'))
  })

  test('merge drops forged, foreign and garbage entries and counts them', () => {
    const log = MemberLog.create({ ...logFor(a), signer: a })
    const forged = signEntry(b, {
      tree: TREE,
      op: 'add',
      node: c.nodeId,
      role: 'admin',
      time: 5,
      nonce: new Uint8Array(8),
    })
    const tampered = forged.slice()
    tampered[tampered.length - 1]! ^= 0x80
    const foreign = signEntry(a, {
      tree: 'ff'.repeat(16),
      op: 'add',
      node: c.nodeId,
      role: 'writer',
      time: 5,
      nonce: new Uint8Array(8),
    })
    // The tampered copy first: once its valid twin is known, a copy with the same signed bytes is skipped unverified.
    const r = log.merge([tampered, forged, foreign, new Uint8Array(3), new Uint8Array(0)])
    assert.deepEqual(r, { added: 0, rejected: 5 })
    assert.equal(log.roleOf(c.nodeId), undefined)
    assert.equal(log.entries().length, 1)
    assert.equal(decodeEntry(tampered), undefined)
    // Merging what one already has adds nothing.
    assert.deepEqual(log.merge(log.entries()), { added: 0, rejected: 0 })
  })

  test('an entry whose signer is not (yet) an admin is dropped unverified; with its grant in one batch, or resent after, it counts', () => {
    const rt = new ManualRuntime(3)
    const source = MemberLog.create({ ...logFor(a, rt), signer: a })
    source.add(b.nodeId, 'admin')
    rt.advance(10)
    const viaB = MemberLog.fromWelcome({ ...logFor(b, rt) }, source.entries())
    const addC = viaB.add(c.nodeId, 'writer')!
    const grantB = source.entries()[1]!
    const fresh = MemberLog.fromWelcome(logFor(d), [source.entries()[0]!])
    assert.deepEqual(fresh.merge([addC]), { added: 0, rejected: 1 })
    assert.equal(fresh.roleOf(c.nodeId), undefined)
    assert.deepEqual(fresh.merge([grantB]), { added: 1, rejected: 0 })
    assert.equal(fresh.roleOf(c.nodeId), undefined)
    // Peers resend their whole log when it grows: the entry counts then.
    assert.deepEqual(fresh.merge([grantB, addC]), { added: 1, rejected: 0 })
    assert.equal(fresh.roleOf(c.nodeId), 'writer')
    // In one batch, the grant after the entry it enables: both count.
    const other = MemberLog.fromWelcome(logFor(d), [source.entries()[0]!])
    assert.deepEqual(other.merge([addC, grantB]), { added: 2, rejected: 0 })
    assert.equal(other.roleOf(c.nodeId), 'writer')
  })

  test('a flood of entries signed by a non-admin costs no signature checks', () => {
    const log = MemberLog.create({ ...logFor(a), signer: a })
    log.add(b.nodeId, 'reader')
    const junk = Array.from({ length: 2000 }, (_, i) =>
      signEntry(b, {
        tree: TREE,
        op: 'add',
        node: c.nodeId,
        role: 'admin',
        time: i,
        nonce: new Uint8Array(8),
      }),
    )
    const bad = junk.map((e) => {
      const x = e.slice()
      x[x.length - 1]! ^= 1
      return x
    })
    const t0 = process.hrtime.bigint()
    assert.deepEqual(log.merge([...junk, ...bad]), { added: 0, rejected: 4000 })
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    // 4000 Ed25519 verifies take well over a second here; parsing and hashing them, a few ms.
    assert.ok(ms < 1000, `${ms} ms`)
    assert.equal(log.roleOf(c.nodeId), undefined)
  })

  test('remove wins over an add of the same node at the same time; a revoked admin signs nothing after', () => {
    const rt = new ManualRuntime(4)
    const log = MemberLog.create({ ...logFor(a, rt), signer: a })
    log.add(b.nodeId, 'admin')
    const t = rt.clock.now() + 1000
    const nonce = new Uint8Array(8)
    const add = signEntry(b, { tree: TREE, op: 'add', node: c.nodeId, role: 'writer', time: t, nonce })
    const remove = signEntry(a, { tree: TREE, op: 'remove', node: c.nodeId, time: t, nonce })
    log.merge([remove, add])
    assert.equal(log.roleOf(c.nodeId), undefined)
    const removeB = signEntry(a, { tree: TREE, op: 'remove', node: b.nodeId, time: t + 1, nonce })
    const lateAdd = signEntry(b, {
      tree: TREE,
      op: 'add',
      node: d.nodeId,
      role: 'writer',
      time: t + 2,
      nonce,
    })
    assert.deepEqual(log.merge([lateAdd, removeB]), { added: 1, rejected: 1 })
    assert.equal(log.roleOf(d.nodeId), undefined)
    assert.equal(log.roleOf(b.nodeId), undefined)
  })

  test('property: any arrival order and batching of the same entries gives the same roles', () => {
    const signers = [a, b, c, d, signer(4)]
    const roles: Role[] = ['admin', 'writer', 'reader', 'server']
    const genesis = signEntry(a, {
      tree: TREE,
      op: 'add',
      node: a.nodeId,
      role: 'admin',
      time: 0,
      nonce: new Uint8Array(8),
    })
    const op = fc.record({
      by: fc.nat(signers.length - 1),
      node: fc.nat(signers.length - 1),
      add: fc.boolean(),
      role: fc.constantFrom(...roles),
      // A small time range makes ties (add vs remove at one time) common.
      time: fc.integer({ min: 1, max: 6 }),
      nonce: fc.nat(3),
    })
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 14 }), fc.nat(), (ops, seed) => {
        const entries = ops.map((o) =>
          signEntry(signers[o.by]!, {
            tree: TREE,
            op: o.add ? 'add' : 'remove',
            node: signers[o.node]!.nodeId,
            role: o.role,
            time: o.time,
            nonce: new Uint8Array(8).fill(o.nonce),
          }),
        )
        const folded = foldMembership(
          decodeEntry(genesis)!,
          entries.map((e) => decodeEntry(e)!),
        )
        const expected = folded.roles
        const rt = new ManualRuntime(seed)
        for (let round = 0; round < 3; round++) {
          const shuffled = entries.slice()
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = rt.next32() % (i + 1)
            ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
          }
          const log = MemberLog.fromWelcome(logFor(undefined, rt), [genesis])
          const all = shuffled.slice()
          while (shuffled.length > 0) log.merge(shuffled.splice(0, 1 + (rt.next32() % 4)))
          // Entries whose signer was not an admin yet when they came are dropped; peers
          // resend their whole log, and one resend (any order) settles it.
          log.merge(all)
          assert.deepEqual(new Map(log.members().map((m) => [m.node, m.role])), expected)
          for (const sg of signers) assert.equal(log.everWriter(sg.nodeId), folded.everWriters.has(sg.nodeId))
          // And a node that learns them from this one's list agrees too.
          const copy = MemberLog.fromWelcome(logFor(undefined, rt), log.entries())
          assert.deepEqual(copy.members(), log.members())
        }
      }),
      { numRuns: 60 },
    )
  })

  test('property: the whole set in one batch, in any order, gives the roles of the fold', () => {
    const signers = [a, b, c, d]
    const genesis = signEntry(a, {
      tree: TREE,
      op: 'add',
      node: a.nodeId,
      role: 'admin',
      time: 0,
      nonce: new Uint8Array(8),
    })
    const op = fc.record({
      by: fc.nat(3),
      node: fc.nat(3),
      add: fc.boolean(),
      role: fc.constantFrom<Role>('admin', 'writer', 'reader'),
      time: fc.integer({ min: 1, max: 6 }),
    })
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), fc.nat(), (ops, seed) => {
        const entries = ops.map((o, i) =>
          signEntry(signers[o.by]!, {
            tree: TREE,
            op: o.add ? 'add' : 'remove',
            node: signers[o.node]!.nodeId,
            role: o.role,
            time: o.time,
            nonce: new Uint8Array(8).fill(i),
          }),
        )
        const expected = foldMembership(
          decodeEntry(genesis)!,
          entries.map((e) => decodeEntry(e)!),
        ).roles
        const rt = new ManualRuntime(seed)
        const shuffled = entries.slice()
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = rt.next32() % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
        }
        const log = MemberLog.fromWelcome(logFor(undefined, rt), [genesis])
        log.merge(shuffled)
        assert.deepEqual(new Map(log.members().map((m) => [m.node, m.role])), expected)
      }),
      { numRuns: 60 },
    )
  })
})
