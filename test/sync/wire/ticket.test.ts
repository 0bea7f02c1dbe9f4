import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  decodeTicket,
  encodeTicket,
  joinProof,
  type Ticket,
  TicketError,
  verifyJoinProof,
} from '../../../sync/wire/ticket.js'

const ticket: Ticket = {
  tree: '1f'.repeat(16),
  inviter: 'ab'.repeat(32),
  addrs: ['iroh:127.0.0.1:40123', `hs:${'cd'.repeat(32)}`],
  invite: '0123456789abcdef0123456789abcdef',
  secret: new Uint8Array(32).map((_, i) => i * 7),
  role: 'writer',
  name: 'photos 📷',
  expires: Date.UTC(2026, 11, 31, 12, 0, 0, 123),
}

function invalid(text: string, reason: RegExp): void {
  assert.throws(
    () => decodeTicket(text),
    (e: unknown) => e instanceof TicketError && /^invalid ticket: /.test(e.message) && reason.test(e.message),
  )
}

describe('invite tickets', () => {
  test('round-trip, short, copyable, case-insensitive, whitespace-tolerant', () => {
    const s = encodeTicket(ticket)
    assert.match(s, /^bt1[a-z2-7]+$/)
    assert.ok(s.length < 360, `ticket of ${s.length} chars`)
    assert.deepEqual(decodeTicket(s), ticket)
    assert.deepEqual(decodeTicket(`  ${s.toUpperCase()}\n`), ticket)
    const minimal: Ticket = { ...ticket, addrs: [], invite: '00'.repeat(8) }
    delete minimal.name
    delete minimal.expires
    assert.deepEqual(decodeTicket(encodeTicket(minimal)), minimal)
  })

  test('every single-character typo is caught', () => {
    const s = encodeTicket(ticket)
    for (let i = 3; i < s.length; i++) {
      const c = s[i] === 'a' ? 'b' : 'a'
      invalid(s.slice(0, i) + c + s.slice(i + 1), /checksum mismatch/)
    }
    invalid(s.slice(0, -1), /checksum mismatch|wrong length/)
    invalid(`${s}a`, /checksum mismatch|wrong length/)
    invalid(s.slice(0, 20), /checksum mismatch|wrong length/)
  })

  test('clear errors for other bad input', () => {
    invalid('', /does not start with "bt1"/)
    invalid('bt2abc', /does not start with "bt1"/)
    invalid('bt1abc!', /character "!" at position 7 is not base32/)
    invalid('bt1', /too short/)
  })

  test('the encoder refuses fields out of range', () => {
    assert.throws(() => encodeTicket({ ...ticket, tree: 'xyz' }), RangeError)
    assert.throws(() => encodeTicket({ ...ticket, secret: new Uint8Array(31) }), RangeError)
    assert.throws(() => encodeTicket({ ...ticket, invite: 'abc' }), RangeError)
    assert.throws(() => encodeTicket({ ...ticket, addrs: Array.from({ length: 9 }, () => 'x') }), RangeError)
    assert.throws(() => encodeTicket({ ...ticket, name: 'n'.repeat(256) }), RangeError)
    assert.throws(() => encodeTicket({ ...ticket, expires: -1 }), RangeError)
  })
})

describe('join proof', () => {
  const ctx = { tree: ticket.tree, invite: ticket.invite, joiner: 'ef'.repeat(32), inviter: ticket.inviter }
  const proof = joinProof(ticket.secret, ctx.tree, ctx.invite, ctx.joiner, ctx.inviter)

  test('verifies with the same secret and context only', () => {
    assert.equal(proof.length, 32)
    assert.ok(verifyJoinProof(ticket.secret, proof, ctx))
    const otherSecret = ticket.secret.slice()
    otherSecret[0]! ^= 1
    assert.ok(!verifyJoinProof(otherSecret, proof, ctx))
    for (const change of [
      { tree: '00'.repeat(16) },
      { invite: '00'.repeat(16) },
      { joiner: '00'.repeat(32) },
      { inviter: '00'.repeat(32) },
    ])
      assert.ok(!verifyJoinProof(ticket.secret, proof, { ...ctx, ...change }), JSON.stringify(change))
    const flipped = proof.slice()
    flipped[31]! ^= 1
    assert.ok(!verifyJoinProof(ticket.secret, flipped, ctx))
  })

  test('malformed input is false, never a throw', () => {
    assert.ok(!verifyJoinProof(ticket.secret, proof.subarray(0, 31), ctx))
    assert.ok(!verifyJoinProof(ticket.secret, proof, { ...ctx, joiner: 'nope' }))
    assert.ok(!verifyJoinProof(new Uint8Array(3), proof, ctx))
  })
})
