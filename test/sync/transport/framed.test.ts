/**
 * FramedConnection (the stream framing shared by iroh and Hyperswarm) over
 * an in-process byte pipe: the acceptance suite without a network, and what
 * a misbehaving remote's raw bytes do.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { systemRuntime } from '../../../sync/runtime.js'
import { FramedConnection, type TeardownMode, WINDOW } from '../../../sync/transport/framed-connection.js'
import { frameHeader, STREAM_MAGIC } from '../../../sync/transport/framing.js'
import { type CloseInfo, MAX_FRAME } from '../../../sync/transport/types.js'
import { connectionSuite } from './suite.js'

/** One end of a byte pipe; bytes reach the peer on a later macrotask, as from a socket. */
class PipeEnd extends FramedConnection {
  peer: PipeEnd | undefined
  /** Bytes written, when no peer is attached (a raw test remote reads them). */
  readonly written: Uint8Array[] = []
  teardowns: TeardownMode[] = []

  constructor(remoteId: string, initiator: boolean) {
    super(remoteId, 'memory', initiator, systemRuntime().timers, 10_000)
  }
  open(): void {
    this.begin()
  }
  inject(bytes: Uint8Array): void {
    this.received(bytes)
  }
  protected async writeBytes(piece: Uint8Array): Promise<void> {
    const copy = piece.slice()
    if (!this.peer) {
      this.written.push(copy)
      return
    }
    const peer = this.peer
    await new Promise<void>((r) => setImmediate(r))
    peer.inject(copy)
  }
  protected teardown(reason: string, how: TeardownMode): void {
    this.teardowns.push(how)
    // The link ends: a peer that has not seen a close record sees it fail.
    const peer = this.peer
    if (peer && how !== 'remote') setTimeout(() => peer.end(reason), 20)
  }
  end(reason: string): void {
    this.linkFailed(`link ended: ${reason}`)
  }
}

function pipe(aId: string, bId: string): [PipeEnd, PipeEnd] {
  const a = new PipeEnd(bId, true)
  const b = new PipeEnd(aId, false)
  a.peer = b
  b.peer = a
  a.open()
  b.open()
  return [a, b]
}

const A = '1'.repeat(64)
const B = '2'.repeat(64)

connectionSuite(
  'framed byte pipe',
  async () => {
    const [a, b] = pipe(A, B)
    return { a, b, aId: A, bId: B, close: async () => a.close() }
  },
  { bulkBytes: 32 * 1024 * 1024, stallBound: WINDOW + 1024 * 1024 },
)

function closedInfo(c: PipeEnd): Promise<CloseInfo> {
  return new Promise((r) => c.onClose(r))
}

describe('framed connection against a raw remote', () => {
  test('a stream without the magic is closed with a reason sent back', async () => {
    const c = new PipeEnd(A, false)
    c.open()
    const info = closedInfo(c)
    c.inject(new TextEncoder().encode('GET / HTTP/1.1\r\n'))
    assert.deepEqual(await info, { reason: 'not a blocktree frame stream (bad magic)', local: true })
    await new Promise((r) => setTimeout(r, 20))
    const out = Buffer.concat(c.written)
    assert.ok(out.includes(Buffer.from('bad magic')), 'close record carries the reason')
  })

  test('an oversize frame header closes the connection', async () => {
    const c = new PipeEnd(A, false)
    c.open()
    const info = closedInfo(c)
    c.inject(STREAM_MAGIC)
    c.inject(frameHeader(MAX_FRAME + 1))
    assert.match((await info).reason, /over the 8388608-byte limit/)
  })

  test('a remote that sends beyond its credit is closed', async () => {
    const c = new PipeEnd(A, false)
    c.open()
    const info = closedInfo(c)
    // No listener: nothing is consumed, so no credit is ever granted.
    c.inject(STREAM_MAGIC)
    const frame = new Uint8Array(1024 * 1024)
    for (let sent = 0; sent <= WINDOW + MAX_FRAME && !c.closed; sent += frame.length) {
      c.inject(frameHeader(frame.length))
      c.inject(frame)
    }
    assert.match((await info).reason, /flow control/)
  })

  test('random and mutated byte streams never throw; the connection ends closed or keeps parsing', () => {
    let x = 0x9e3779b9
    const rnd = (n: number) => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return (x >>> 0) % n
    }
    const valid = Buffer.concat([
      Buffer.from(STREAM_MAGIC),
      Buffer.from(frameHeader(3)),
      Buffer.from([1, 2, 3]),
      Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 9]),
      Buffer.from(frameHeader(2)),
      Buffer.from([4, 5]),
    ])
    let closedCount = 0
    for (let round = 0; round < 3000; round++) {
      const c = new PipeEnd(A, false)
      c.onFrame(() => {})
      let bytes: Uint8Array
      if (round % 2 === 0) {
        bytes = new Uint8Array(valid)
        for (let k = 0; k <= rnd(4); k++) bytes[rnd(bytes.length)] = rnd(256)
      } else {
        bytes = new Uint8Array(rnd(64))
        for (let i = 0; i < bytes.length; i++) bytes[i] = rnd(256)
        if (rnd(2) === 0) bytes.set(STREAM_MAGIC.subarray(0, Math.min(4, bytes.length)))
      }
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + rnd(8)
        c.inject(bytes.subarray(i, i + n))
        i += n
      }
      if (c.closed) closedCount++
      c.close('fuzz round over')
    }
    // Most random streams are refused (bad magic, oversize, bad control type); some mutations stay valid.
    assert.ok(closedCount > 1000 && closedCount < 3000, `closed ${closedCount} of 3000`)
  })

  test('frames queued for credit still go out after a local close, before the close record', async () => {
    const [a, b] = pipe(A, B)
    const got: number[] = []
    const sends: Promise<void>[] = []
    for (let i = 0; i < 8; i++) sends.push(a.send(new Uint8Array(1024 * 1024).fill(i)))
    a.close('finished')
    const bInfo = closedInfo(b)
    await new Promise((r) => setTimeout(r, 50))
    b.onFrame((f) => got.push(f[0]!))
    await Promise.all(sends)
    assert.deepEqual(await bInfo, { reason: 'finished', local: false })
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7])
    // The closer learns its close record was taken just after the remote read it.
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(a.teardowns, ['flushed'])
  })
})
