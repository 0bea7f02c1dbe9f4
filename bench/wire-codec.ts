/**
 * Cost of the protocol codec (sync/wire/codec.ts) and of membership entry
 * checks (sync/membership.ts), each beside the floor measured in the same run:
 *  1. chunk frames (256 KiB stored bytes): encode + decode GiB/s, beside one
 *     plain copy of the payload into a fresh buffer (what encoding must pay);
 *  2. want frames of 4096 chunk ids: frames/s, beside converting the same ids
 *     hex -> bytes -> hex with Buffer (what any binary id encoding pays);
 *  3. membership entries: decode + signature check per second, beside bare
 *     node:crypto Ed25519 verifies of the same bytes.
 *
 * Usage: node dist/bench/wire-codec.js [--quick] [--chunks N] [--wants N] [--entries N]
 */
import { decodeEntry, MemberLog, MemoryMemberLogStore } from '../sync/membership.js'
import { ManualRuntime } from '../sync/runtime.js'
import { decodeMessage, encodeMessage } from '../sync/wire/codec.js'
import { signerFromSeed, verifySignature } from '../sync/wire/ed25519.js'
import { benchArgs } from './args.js'

const opts = benchArgs('wire-codec', 'codec and membership-entry throughput vs their floors.', {
  chunks: { full: [3000], quick: [20], help: '256 KiB chunk frames encoded and decoded' },
  wants: { full: [2000], quick: [20], help: 'want frames of 4096 ids' },
  entries: { full: [20000], quick: [200], help: 'membership entries checked' },
})

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9
let sink = 0

// 1. chunk frames
const data = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff)
const id = 'ab'.repeat(32)
const n = opts.chunks[0]!
// Results are kept (as a transport would hold a frame), else V8 may optimise the plain copy away.
const keep: Uint8Array[] = []
/** Best of three runs, ours and the floor alternating, so warm-up and load spikes hit both alike. */
function bestOf(ours: () => number, floor: () => number): [number, number] {
  let a = 0
  let b = 0
  for (let round = 0; round < 3; round++) {
    a = Math.max(a, ours())
    b = Math.max(b, floor())
  }
  return [a, b]
}
const [codecGiBs, copyGiBs] = bestOf(
  () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const m = decodeMessage(encodeMessage({ type: 'chunk', channel: 1, id, data }))
      if (m.type === 'chunk') keep[i & 3] = m.data
    }
    return (n * data.length) / secs(t0) / 2 ** 30
  },
  () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const copy = new Uint8Array(data.length + 40)
      copy.set(data, 40)
      keep[i & 3] = copy
    }
    return (n * data.length) / secs(t0) / 2 ** 30
  },
)
console.log(
  `chunk frame 256 KiB  encode+decode ${codecGiBs.toFixed(2)} GiB/s   floor (one copy) ${copyGiBs.toFixed(2)} GiB/s`,
)

// 2. want frames
const ids = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(64, '0'))
const w = opts.wants[0]!
let t0 = process.hrtime.bigint()
for (let i = 0; i < w; i++) {
  const m = decodeMessage(encodeMessage({ type: 'want', channel: 1, ids }))
  if (m.type === 'want') sink += m.ids.length
}
const wantRate = w / secs(t0)
t0 = process.hrtime.bigint()
for (let i = 0; i < w; i++) {
  const buf = Buffer.allocUnsafe(ids.length * 32)
  for (let j = 0; j < ids.length; j++) buf.write(ids[j]!, j * 32, 'hex')
  for (let j = 0; j < ids.length; j++) sink += buf.toString('hex', j * 32, j * 32 + 32).length
}
const hexRate = w / secs(t0)
console.log(
  `want frame 4096 ids   encode+decode ${wantRate.toFixed(0)} frames/s   floor (hex<->bytes) ${hexRate.toFixed(0)} frames/s`,
)

// 3. membership entries
const rt = new ManualRuntime(1)
const admin = signerFromSeed(new Uint8Array(32).fill(1))
const log = MemberLog.create({
  tree: '11'.repeat(16),
  store: new MemoryMemberLogStore(),
  clock: rt.clock,
  random: rt.random,
  signer: admin,
})
log.add('22'.repeat(32), 'writer')
const entry = log.entries()[1]!
const e = opts.entries[0]!
t0 = process.hrtime.bigint()
for (let i = 0; i < e; i++) sink += decodeEntry(entry) ? 1 : 0
const entryRate = e / secs(t0)
const payload = entry.subarray(0, entry.length - 64)
const sig = entry.subarray(entry.length - 64)
t0 = process.hrtime.bigint()
for (let i = 0; i < e; i++) sink += verifySignature(admin.nodeId, payload, sig) ? 0 : 1
const verifyRate = e / secs(t0)
console.log(
  `membership entry      decode+verify ${entryRate.toFixed(0)} /s   floor (Ed25519 verify) ${verifyRate.toFixed(0)} /s`,
)
if (sink === -1) console.log('')
