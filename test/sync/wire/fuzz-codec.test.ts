/**
 * Fuzzer (a): at least 100,000 random and mutated frames straight into
 * decodeMessage. Every frame either throws ProtocolError EMALFORMED (never
 * another exception) or decodes to a message that encodes back to exactly
 * the same bytes (the encoding is canonical, so nothing malformed slips
 * through as a different message). Memory stays bounded.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeMessage, encodeMessage } from '../../../sync/wire/codec.js'
import { type Message, ProtocolError } from '../../../sync/wire/messages.js'
import { FuzzRandom, fuzzSeed, mutate } from './mutate.js'
import { sampleMessages } from './samples.js'

const FRAMES = 120_000

test(`fuzz: ${FRAMES} mutated frames into decodeMessage`, () => {
  const seed = fuzzSeed('fuzz-codec')
  const r = new FuzzRandom(seed)
  const seeds = sampleMessages().map((m) => encodeMessage(m))
  const heapStart = process.memoryUsage().heapUsed
  let peakHeap = heapStart
  let rejected = 0
  let decoded = 0
  const reasons = new Map<string, number>()
  for (let i = 0; i < FRAMES; i++) {
    const frame = mutate(r, r.pick(seeds), r.pick(seeds))
    let m: Message
    try {
      m = decodeMessage(frame)
    } catch (e) {
      if (!(e instanceof ProtocolError) || e.code !== 'EMALFORMED')
        assert.fail(
          `frame ${i} (seed ${seed}) threw ${String(e)}: ${Buffer.from(frame).toString('hex').slice(0, 400)}`,
        )
      rejected++
      const kind = e.message.replace(/[0-9]+/g, 'N').slice(0, 60)
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1)
      continue
    }
    decoded++
    const again = encodeMessage(m)
    if (Buffer.compare(Buffer.from(again), Buffer.from(frame)) !== 0)
      assert.fail(`frame ${i} (seed ${seed}) decoded to a message that encodes differently: ${m.type}`)
    if (i % 10_000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
  }
  const growth = peakHeap - heapStart
  console.log(
    `${FRAMES} frames: ${rejected} rejected, ${decoded} still valid; ${reasons.size} distinct reasons; heap +${(growth / 2 ** 20).toFixed(1)} MiB`,
  )
  assert.equal(rejected + decoded, FRAMES)
  // The mutations must actually reach the checks, not just the type byte.
  assert.ok(rejected > FRAMES / 2, `only ${rejected} rejected`)
  assert.ok(reasons.size >= 20, `only ${reasons.size} kinds of rejection: ${[...reasons.keys()].join(' | ')}`)
  assert.ok(growth < 256 * 2 ** 20, `heap grew by ${growth} bytes`)
})

test('fuzz: pure random frames of every length up to 4 KiB', () => {
  const seed = fuzzSeed('fuzz-codec-random')
  const r = new FuzzRandom(seed)
  for (let i = 0; i < 20_000; i++) {
    const frame = r.bytes(r.int(4096))
    try {
      const m = decodeMessage(frame)
      assert.deepEqual(encodeMessage(m), frame)
    } catch (e) {
      if (!(e instanceof ProtocolError)) assert.fail(`seed ${seed} frame ${i}: ${String(e)}`)
    }
  }
})
