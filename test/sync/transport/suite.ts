/**
 * The acceptance suite every `Connection` implementation passes (in-memory,
 * iroh, Hyperswarm, the simulator's): `connectionSuite(name, makePair)`.
 * It uses real time for its waits, so each wait is generous (a loaded
 * machine) and each test asserts an outcome, not a timing.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { type CloseInfo, type Connection, MAX_FRAME } from '../../../sync/transport/types.js'

/** One connected pair: `a` dialled `b`. `close()` releases whatever made them. */
export interface Pair {
  a: Connection
  b: Connection
  aId: string
  bId: string
  close(): Promise<void>
}

export interface SuiteOptions {
  /** Bytes for the bulk and bidirectional tests (slow transports use less). Default 32 MiB. */
  bulkBytes?: number
  /** Bound on what a sender may get ahead of a receiver that does not read. Default 64 MiB. */
  stallBound?: number
  /** Send the largest frames (1 MiB .. MAX_FRAME) in one direction only (slow transports). */
  bigFramesOneWay?: boolean
  /** Per-test timeout, ms. Default 120 s. */
  timeoutMs?: number
  /** Skip the whole suite with this reason (e.g. a facility missing here). */
  skip?: string
}

/** Frames received on a connection, with a way to wait for a count. */
class Sink {
  readonly frames: Uint8Array[] = []
  bytes = 0
  private wake: (() => void) | undefined
  constructor(conn: Connection) {
    conn.onFrame((f) => {
      this.frames.push(f)
      this.bytes += f.length
      this.wake?.()
    })
  }
  async until(pred: () => boolean, what: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!pred()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what} (have ${this.frames.length} frames)`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
  }
}

function closed(conn: Connection, ms = 30_000): Promise<CloseInfo> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for close')), ms)
    conn.onClose((info) => {
      clearTimeout(t)
      resolve(info)
    })
  })
}

/** A frame whose bytes depend on (seq, length): a reordered, cut or merged frame is detected. */
function frameOf(seq: number, length: number): Uint8Array {
  const f = new Uint8Array(length)
  let x = (seq * 2654435761 + length) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    f[i] = x & 0xff
  }
  if (length >= 4) new DataView(f.buffer).setUint32(0, seq)
  return f
}

function sameFrame(got: Uint8Array, want: Uint8Array, label: string): void {
  assert.equal(got.length, want.length, `${label}: length`)
  assert.ok(Buffer.from(got.buffer, got.byteOffset, got.length).equals(want), `${label}: content`)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function connectionSuite(name: string, makePair: () => Promise<Pair>, opts: SuiteOptions = {}): void {
  const bulk = opts.bulkBytes ?? 32 * 1024 * 1024
  const stallBound = opts.stallBound ?? 64 * 1024 * 1024
  const timeout = opts.timeoutMs ?? 120_000
  const pairs: Pair[] = []
  const pair = async () => {
    const p = await makePair()
    pairs.push(p)
    return p
  }

  describe(`Connection acceptance: ${name}`, { skip: opts.skip, timeout }, () => {
    after(async () => {
      for (const p of pairs) await p.close()
    })

    test('remoteId is the authenticated id of the other side; initiator flags', async () => {
      const { a, b, aId, bId } = await pair()
      assert.equal(a.remoteId, bId)
      assert.equal(b.remoteId, aId)
      assert.equal(a.initiator, true)
      assert.equal(b.initiator, false)
      assert.equal(a.transport, b.transport)
      assert.equal(a.closed, false)
    })

    test('frames arrive whole and in order, 1 B .. MAX_FRAME, both ways', async () => {
      const { a, b } = await pair()
      const small = [1, 2, 3, 255, 256, 4096, 65535, 65536, 65537]
      const big = [1 << 20, MAX_FRAME - 1, MAX_FRAME]
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const sizes = from === b && opts.bigFramesOneWay ? small : [...small, ...big]
        const sink = new Sink(to)
        for (let i = 0; i < sizes.length; i++) await from.send(frameOf(i, sizes[i]!))
        await sink.until(() => sink.frames.length === sizes.length, 'all sizes')
        for (let i = 0; i < sizes.length; i++)
          sameFrame(sink.frames[i]!, frameOf(i, sizes[i]!), `size ${sizes[i]}`)
      }
    })

    test('an oversize or empty frame is refused with RangeError; the connection stays usable', async () => {
      const { a, b } = await pair()
      await assert.rejects(async () => a.send(new Uint8Array(MAX_FRAME + 1)), RangeError)
      await assert.rejects(async () => a.send(new Uint8Array(0)), RangeError)
      const sink = new Sink(b)
      await a.send(frameOf(7, 100))
      await sink.until(() => sink.frames.length === 1, 'frame after refusal')
      sameFrame(sink.frames[0]!, frameOf(7, 100), 'after refusal')
      assert.equal(a.closed, false)
    })

    test('many small frames keep their order and boundaries', async () => {
      const { a, b } = await pair()
      const sink = new Sink(b)
      const n = 2000
      const sends: Promise<void>[] = []
      // Not awaited one by one: the transport must keep order with many sends outstanding.
      for (let i = 0; i < n; i++) sends.push(a.send(frameOf(i, 1 + (i % 97))))
      await Promise.all(sends)
      await sink.until(() => sink.frames.length === n, `${n} frames`)
      for (let i = 0; i < n; i++) sameFrame(sink.frames[i]!, frameOf(i, 1 + (i % 97)), `frame ${i}`)
    })

    test('bulk transfer with awaited sends arrives intact', async () => {
      const { a, b } = await pair()
      const size = 256 * 1024
      const n = Math.max(1, Math.floor(bulk / size))
      const want = createHash('sha256')
      const got = createHash('sha256')
      let count = 0
      b.onFrame((f) => {
        got.update(f)
        count++
      })
      for (let i = 0; i < n; i++) {
        const f = frameOf(i, size)
        want.update(f)
        await a.send(f)
      }
      await new Sink(a).until(() => count === n, `${n} bulk frames`)
      assert.equal(got.digest('hex'), want.digest('hex'))
    })

    test('backpressure: a sender cannot run far ahead of a receiver that does not read', async () => {
      const { a, b } = await pair()
      const size = 64 * 1024
      let accepted = 0
      let stalled = false
      let seq = 0
      let pending: Promise<void> | undefined
      // Send until a send has not resolved for a while (the receiver sets no listener).
      while (accepted <= stallBound + 16 * 1024 * 1024) {
        const p = a.send(frameOf(seq, size))
        const won = await Promise.race([p.then(() => true), sleep(1500).then(() => false)])
        if (!won) {
          stalled = true
          // Let the stalled send finish once the receiver reads (below).
          pending = p
          break
        }
        accepted += size
        seq++
      }
      assert.ok(stalled, `sender never blocked after ${accepted} bytes`)
      assert.ok(accepted <= stallBound, `sender got ${accepted} bytes ahead (bound ${stallBound})`)
      // Everything queued so far arrives, in order, once a listener is set.
      const sink = new Sink(b)
      await pending
      await sink.until(() => sink.frames.length === seq + 1, 'queued frames')
      for (let i = 0; i <= seq; i++) sameFrame(sink.frames[i]!, frameOf(i, size), `queued frame ${i}`)
    })

    test('frames sent before onFrame is set are queued and delivered to it', async () => {
      const { a, b } = await pair()
      for (let i = 0; i < 100; i++) await a.send(frameOf(i, 10 + i))
      await sleep(200)
      const sink = new Sink(b)
      await sink.until(() => sink.frames.length === 100, 'queued frames')
      for (let i = 0; i < 100; i++) sameFrame(sink.frames[i]!, frameOf(i, 10 + i), `frame ${i}`)
    })

    test('concurrent traffic both ways', async () => {
      const { a, b } = await pair()
      const n = Math.max(16, Math.floor(Math.min(bulk / 2, 8 * 1024 * 1024) / (32 * 1024)))
      const sa = new Sink(a)
      const sb = new Sink(b)
      const pump = async (c: Connection, base: number) => {
        for (let i = 0; i < n; i++) await c.send(frameOf(base + i, 1 + ((i * 7919) % (64 * 1024))))
      }
      await Promise.all([pump(a, 0), pump(b, 1_000_000)])
      await sb.until(() => sb.frames.length === n, 'a->b frames')
      await sa.until(() => sa.frames.length === n, 'b->a frames')
      for (let i = 0; i < n; i++) {
        sameFrame(sb.frames[i]!, frameOf(i, 1 + ((i * 7919) % (64 * 1024))), `a->b ${i}`)
        sameFrame(sa.frames[i]!, frameOf(1_000_000 + i, 1 + ((i * 7919) % (64 * 1024))), `b->a ${i}`)
      }
    })

    for (const closer of ['initiator', 'acceptor'] as const) {
      test(`close by the ${closer}: reason delivered, frames sent before it arrive first`, async () => {
        const p = await pair()
        const [x, y] = closer === 'initiator' ? [p.a, p.b] : [p.b, p.a]
        const sink = new Sink(y)
        const yClosed = closed(y)
        const xClosed = closed(x)
        for (let i = 0; i < 10; i++) await x.send(frameOf(i, 1000))
        x.close('done here: test')
        assert.equal(x.closed, true)
        const mine = await xClosed
        assert.deepEqual(mine, { reason: 'done here: test', local: true })
        const theirs = await yClosed
        assert.equal(theirs.local, false)
        assert.equal(theirs.reason, 'done here: test')
        assert.equal(y.closed, true)
        assert.equal(sink.frames.length, 10)
        x.close('again') // idempotent
        // onClose after the fact still reports, with the first reason.
        assert.equal((await closed(x)).reason, 'done here: test')
      })
    }

    test('send after close rejects, on both sides', async () => {
      const { a, b } = await pair()
      const bClosed = closed(b)
      a.close('bye')
      await assert.rejects(a.send(frameOf(1, 10)))
      await bClosed
      await assert.rejects(b.send(frameOf(1, 10)))
    })

    test('a frame listener that throws closes the connection with its error as reason', async () => {
      const { a, b } = await pair()
      const aClosed = closed(a)
      const bClosed = closed(b)
      b.onFrame(() => {
        throw new Error('listener exploded')
      })
      await a.send(frameOf(1, 10))
      const local = await bClosed
      assert.equal(local.local, true)
      assert.match(local.reason, /listener exploded/)
      const remote = await aClosed
      assert.equal(remote.local, false)
      assert.match(remote.reason, /listener exploded/)
    })
  })
}
