import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { MAX_FRAME } from '../../../sync/transport/types.js'
import {
  clampText,
  decodeMessage,
  ERROR_CODES,
  encodeMessage,
  ROLES,
  TYPE_CODES,
} from '../../../sync/wire/codec.js'
import { LIMITS, type Message, ProtocolError } from '../../../sync/wire/messages.js'
import { sampleMessages } from './samples.js'

function malformed(frame: Uint8Array, reason: RegExp): void {
  assert.throws(
    () => decodeMessage(frame),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`)
      assert.equal(e.code, 'EMALFORMED')
      assert.match(e.message, reason)
      return true
    },
  )
}

function bytes(...parts: (number | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = []
  for (const p of parts) {
    if (typeof p === 'number') out.push(p)
    else for (const b of p) out.push(b)
  }
  return Uint8Array.from(out)
}

const TREE = 'a'.repeat(32)
const CHUNK = '0123456789abcdef'.repeat(4)

describe('wire codec', () => {
  test('every message type round-trips', () => {
    const seen = new Set<string>()
    for (const m of sampleMessages()) {
      const frame = encodeMessage(m)
      assert.equal(frame[0], TYPE_CODES[m.type])
      assert.deepEqual(decodeMessage(frame), m)
      seen.add(m.type)
    }
    assert.deepEqual([...seen].sort(), Object.keys(TYPE_CODES).sort())
  })

  test('frames are compact: ids travel as raw bytes', () => {
    const want = encodeMessage({ type: 'want', channel: 1, ids: [CHUNK, CHUNK] })
    assert.equal(want.length, 1 + 1 + 1 + 64)
    assert.deepEqual([...encodeMessage({ type: 'ping', nonce: 300 })], [15, 0xac, 0x02])
  })

  test('chunk data decodes as a view into the frame, not a copy', () => {
    const data = new Uint8Array(256 * 1024).fill(7)
    const frame = encodeMessage({ type: 'chunk', channel: 3, id: CHUNK, data })
    const m = decodeMessage(frame)
    assert.equal(m.type, 'chunk')
    if (m.type !== 'chunk') return
    assert.equal(m.data.buffer, frame.buffer)
    assert.equal(m.data.length, data.length)
    assert.deepEqual(m.data, data)
  })

  test('limits are accepted at the edge and refused one past it', () => {
    const atLimit = encodeMessage({
      type: 'chunk',
      channel: 0,
      id: CHUNK,
      data: new Uint8Array(LIMITS.chunk),
    })
    assert.equal((decodeMessage(atLimit) as { data: Uint8Array }).data.length, LIMITS.chunk)
    assert.throws(
      () => encodeMessage({ type: 'chunk', channel: 0, id: CHUNK, data: new Uint8Array(LIMITS.chunk + 1) }),
      RangeError,
    )
    const ids = Array.from({ length: LIMITS.ids }, () => CHUNK)
    assert.equal(
      (decodeMessage(encodeMessage({ type: 'have', channel: 0, ids })) as { ids: string[] }).ids.length,
      LIMITS.ids,
    )
    assert.throws(() => encodeMessage({ type: 'have', channel: 0, ids: [...ids, CHUNK] }), RangeError)
    // A hand-made frame one past the limit: refused by the decoder too.
    const over = LIMITS.ids + 1
    malformed(
      bytes(TYPE_CODES.have, 0, [(over & 0x7f) | 0x80, over >> 7], new Uint8Array(over * 32)),
      /ids exceed the limit/,
    )
    assert.equal(
      decodeMessage(encodeMessage({ type: 'error', code: 'EORDER', reason: 'x'.repeat(LIMITS.text) })).type,
      'error',
    )
    assert.throws(
      () => encodeMessage({ type: 'error', code: 'EORDER', reason: 'x'.repeat(LIMITS.text + 1) }),
      RangeError,
    )
  })

  test('unknown types, empty and oversized frames', () => {
    malformed(new Uint8Array(0), /empty frame/)
    malformed(bytes(0), /unknown message type 0/)
    malformed(bytes(18), /unknown message type 18/)
    malformed(bytes(255, 1, 2), /unknown message type 255/)
    malformed(new Uint8Array(MAX_FRAME + 1), /exceeds MAX_FRAME/)
  })

  test('truncation and trailing bytes', () => {
    for (const m of sampleMessages()) {
      const frame = encodeMessage(m)
      for (let cut = 1; cut < frame.length; cut += Math.max(1, frame.length >> 4))
        malformed(
          frame.subarray(0, cut),
          /truncated|cannot fit|non-minimal|unknown|bad version|invite of|empty sync/,
        )
      malformed(bytes(frame, 0), /trailing bytes/)
    }
  })

  test('huge lengths and counts are refused before allocating', () => {
    const huge = [0xff, 0xff, 0xff, 0xff, 0x0f] // 2^32-1
    malformed(
      bytes(TYPE_CODES.chunk, 0, Buffer.from(CHUNK, 'hex'), huge),
      /chunk data of 4294967295 bytes exceeds/,
    )
    malformed(bytes(TYPE_CODES.shards, 0, [0x80, 0x80, 0x04]), /shards cannot fit|exceed the limit/)
    malformed(bytes(TYPE_CODES.shards, 0, [0xa1, 0x8d, 0x06]), /100001 shards exceed the limit of 100000/)
    malformed(bytes(TYPE_CODES.members, 0, 100, 1, 1), /cannot fit/)
    malformed(bytes(TYPE_CODES.sync, 0, 0, [0x80, 0x80, 0x80, 0x04]), /exceeds the limit/)
    malformed(
      bytes(TYPE_CODES.members, 0, 1, [0x81, 0x04], new Uint8Array(513)),
      /membership entry of 513 bytes/,
    )
  })

  test('varints: minimal, at most 5 bytes, at most 2^32-1', () => {
    assert.equal(
      (decodeMessage(bytes(TYPE_CODES.ping, [0xff, 0xff, 0xff, 0xff, 0x0f])) as { nonce: number }).nonce,
      0xffffffff,
    )
    malformed(bytes(TYPE_CODES.ping, [0x80, 0x00]), /non-minimal/)
    malformed(bytes(TYPE_CODES.ping, [0xff, 0xff, 0xff, 0xff, 0x10]), /exceeds 2\^32-1/)
    malformed(bytes(TYPE_CODES.ping, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 5 bytes/)
    assert.throws(() => encodeMessage({ type: 'ping', nonce: 2 ** 32 }), RangeError)
    assert.throws(() => encodeMessage({ type: 'ping', nonce: -1 }), RangeError)
    assert.throws(() => encodeMessage({ type: 'ping', nonce: 1.5 }), RangeError)
  })

  test('field values outside their range', () => {
    malformed(bytes(TYPE_CODES.accept, 0, 4), /unknown role 4/)
    malformed(bytes(TYPE_CODES.error, 8, 0), /unknown error code 8/)
    malformed(bytes(TYPE_CODES.hello, 1, 2, 0), /bad version range 2..1/)
    malformed(bytes(TYPE_CODES.hello, 0, 0, 0), /bad version range/)
    malformed(bytes(TYPE_CODES.error, 1, 2, 0xc3, 0x28), /not valid UTF-8/)
    malformed(bytes(TYPE_CODES.sync, 0, 0, 0), /empty sync data/)
    malformed(bytes(TYPE_CODES.sync, 0, [0xc0, 0x84, 0x3d], 1, 1), /shard 1000000 exceeds 999999/)
    malformed(bytes(TYPE_CODES.shards, 0, 2, 0, [0xc0, 0x84, 0x3d]), /shard 1000000 exceeds/)
    assert.throws(
      () => encodeMessage({ type: 'sync', channel: 0, shard: 1_000_000, data: Uint8Array.of(1) }),
      RangeError,
    )
    assert.throws(() => encodeMessage({ type: 'shards', channel: 0, shards: [1, 2 ** 32] }), RangeError)
    malformed(
      bytes(TYPE_CODES.join, 0, Buffer.from(TREE, 'hex'), 4, [1, 2, 3, 4], new Uint8Array(32)),
      /invite of 4 bytes/,
    )
  })

  test('clampText makes any string fit a text field', () => {
    assert.equal(clampText('short'), 'short')
    for (const s of ['é'.repeat(2000), '📷'.repeat(600), `${'a'.repeat(1023)}📷`, 'x\ud800y'.repeat(400)]) {
      const c = clampText(s)
      assert.ok(Buffer.byteLength(c) <= LIMITS.text)
      const m: Message = { type: 'error', code: 'EINTERNAL', reason: c }
      assert.deepEqual(decodeMessage(encodeMessage(m)), m)
    }
    assert.equal(clampText(`${'a'.repeat(1023)}📷`), 'a'.repeat(1023))
    assert.equal(clampText('a\udc00b'), 'a\ufffdb')
  })

  test('the encoder refuses what would not decode', () => {
    const bad: Message[] = [
      { type: 'open', channel: 0, tree: 'A'.repeat(32) },
      { type: 'open', channel: 0, tree: 'a'.repeat(31) },
      { type: 'want', channel: 0, ids: ['zz'.repeat(32)] },
      { type: 'join', channel: 0, tree: TREE, invite: 'abc', proof: new Uint8Array(32) },
      { type: 'join', channel: 0, tree: TREE, invite: '00'.repeat(8), proof: new Uint8Array(31) },
      { type: 'accept', channel: 0, role: 'owner' as 'admin' },
      { type: 'refuse', channel: 0, code: 'ENOPE' as 'EORDER', reason: '' },
      { type: 'hello', version: 1, minVersion: 2, agent: '' },
      { type: 'sync', channel: 0, shard: 0, data: new Uint8Array(0) },
      { type: 'error', code: 'EORDER', reason: 'lone \ud800 surrogate' },
      { type: 'peers', channel: 0, peers: [{ node: CHUNK, addrs: Array.from({ length: 17 }, () => 'a') }] },
    ]
    for (const m of bad) assert.throws(() => encodeMessage(m), RangeError, JSON.stringify(m.type))
  })
})

describe('wire codec, property', () => {
  const hex = (bytes: number) =>
    fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'))
  const u32 = fc.nat({ max: 0xffffffff })
  const text = fc.string({ maxLength: 40, unit: 'grapheme' })
  const role = fc.constantFrom(...ROLES)
  const code = fc.constantFrom(...ERROR_CODES)
  const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max })
  const ids = fc.array(hex(32), { maxLength: 20 })
  const message: fc.Arbitrary<Message> = fc.oneof(
    fc
      .tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 1000 }), text)
      .map(([minVersion, extra, agent]) => ({
        type: 'hello',
        version: minVersion + extra,
        minVersion,
        agent,
      })),
    fc.record({ type: fc.constant('open'), channel: u32, tree: hex(16) }),
    fc.record({
      type: fc.constant('join'),
      channel: u32,
      tree: hex(16),
      invite: fc.integer({ min: 8, max: 16 }).chain((n) => hex(n)),
      proof: bytes(32, 32),
    }),
    fc.record({
      type: fc.constant('welcome'),
      channel: u32,
      name: text,
      role,
      key: bytes(32, 32),
      members: fc.array(bytes(200), { maxLength: 5 }),
    }),
    fc.record({ type: fc.constant('accept'), channel: u32, role }),
    fc.record({ type: fc.constant('refuse'), channel: u32, code, reason: text }),
    fc.record({
      type: fc.constant('members'),
      channel: u32,
      entries: fc.array(bytes(200), { maxLength: 5 }),
    }),
    fc.record({
      type: fc.constant('shards'),
      channel: u32,
      shards: fc.array(fc.nat({ max: LIMITS.maxShard })),
    }),
    fc.record({
      type: fc.constant('sync'),
      channel: u32,
      shard: fc.nat({ max: LIMITS.maxShard }),
      data: bytes(300, 1),
    }),
    fc.record({
      type: fc.constantFrom('want', 'have', 'nochunk'),
      channel: u32,
      ids,
    }) as fc.Arbitrary<Message>,
    fc.record({ type: fc.constant('chunk'), channel: u32, id: hex(32), data: bytes(3000) }),
    fc.record({
      type: fc.constant('peers'),
      channel: u32,
      peers: fc.array(fc.record({ node: hex(32), addrs: fc.array(text, { maxLength: 4 }) }), {
        maxLength: 4,
      }),
    }),
    fc.record({ type: fc.constantFrom('ping', 'pong'), nonce: u32 }) as fc.Arbitrary<Message>,
    fc.record({ type: fc.constant('error'), code, reason: text }),
  ) as fc.Arbitrary<Message>

  test('any valid message round-trips, and its frame is canonical', () => {
    fc.assert(
      fc.property(message, (generated) => {
        // fast-check's records have no prototype; strict deepEqual would tell them apart.
        const m = structuredClone(generated)
        const frame = encodeMessage(m)
        const back = decodeMessage(frame)
        assert.deepEqual(back, m)
        assert.deepEqual(encodeMessage(back), frame)
      }),
      { numRuns: 3000 },
    )
  })
})
