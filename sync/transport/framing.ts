/**
 * Frames over a byte stream (iroh's QUIC stream, Hyperswarm's Noise stream).
 *
 * Each direction starts with the 4 bytes `btf1` (a stream of another
 * protocol is refused at once; on iroh it also makes the stream visible to
 * the acceptor, which sees a QUIC stream only once bytes flow). Then
 * records, each starting with a u32 big-endian length L:
 * - 1 <= L <= MAX_FRAME: one frame of L bytes follows;
 * - L = 0: a control record, one type byte then:
 *   - 0 close: u16 big-endian byte length R <= 1024, R bytes of UTF-8
 *     reason; the sender writes nothing after it;
 *   - 1 credit: u32 big-endian N >= 1: the sender's listener consumed N more
 *     bytes of frames (flow control, see framed-connection.ts);
 *   - other types: the receiver closes the connection;
 * - L > MAX_FRAME: the receiver closes the connection (oversize frame).
 */
import { MAX_FRAME } from './types.js'

export const STREAM_MAGIC = Uint8Array.from([0x62, 0x74, 0x66, 0x31]) // 'btf1'
/** Longest close reason carried (bytes of UTF-8; longer reasons are cut). */
export const MAX_REASON = 1024

/** The 4-byte length header of a frame. */
export function frameHeader(length: number): Uint8Array {
  const h = new Uint8Array(4)
  new DataView(h.buffer).setUint32(0, length)
  return h
}

/**
 * Buffers made by `allocFrame` / `frameIn`, each with the record its frame
 * goes out in (4 bytes of header room right before the frame).
 */
const headroom = new WeakMap<ArrayBufferLike, Uint8Array>()

/**
 * Memory for a frame of up to `size` bytes, with room before it for the
 * record header, so that a framed connection sends it without a copy (any
 * `subarray(0, n)` of it keeps that property). The frame is handed over by
 * `send`: do not change it afterwards. Contents start uninitialised.
 */
export function allocFrame(size: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(size + 4)
  return frameIn(new Uint8Array(b.buffer, 0, size + 4))
}

/**
 * The frame inside `record` (a view of a buffer of its own, at least 5
 * bytes): its bytes after the 4-byte header room. `toRecord` of that frame
 * (all of it) returns `record` itself, the same object, which a link may
 * need (Hyperswarm's `alloc`ed messages are encrypted in place only when
 * the very buffer it handed out is written).
 */
export function frameIn(record: Uint8Array): Uint8Array {
  headroom.set(record.buffer, record)
  return record.subarray(4)
}

/**
 * `frame` as one record (header + frame): in place when it came from
 * `allocFrame` or `frameIn` (once per buffer), else a copy.
 */
export function toRecord(frame: Uint8Array): Uint8Array {
  const room = headroom.get(frame.buffer)
  if (room && frame.byteOffset === room.byteOffset + 4) {
    headroom.delete(frame.buffer)
    const rec = frame.length === room.length - 4 ? room : room.subarray(0, frame.length + 4)
    new DataView(rec.buffer, rec.byteOffset, 4).setUint32(0, frame.length)
    return rec
  }
  const rec = new Uint8Array(Buffer.allocUnsafeSlow(frame.length + 4).buffer, 0, frame.length + 4)
  new DataView(rec.buffer).setUint32(0, frame.length)
  rec.set(frame, 4)
  return rec
}

const CONTROL_CLOSE = 0
const CONTROL_CREDIT = 1

/** A close record carrying `reason` (cut to MAX_REASON bytes on a character boundary). */
export function closeRecord(reason: string): Uint8Array {
  let bytes = new TextEncoder().encode(reason)
  if (bytes.length > MAX_REASON) {
    let end = MAX_REASON
    // Back off to the start of a UTF-8 sequence so the cut text still decodes.
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
    bytes = bytes.subarray(0, end)
  }
  const out = new Uint8Array(7 + bytes.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 0)
  dv.setUint8(4, CONTROL_CLOSE)
  dv.setUint16(5, bytes.length)
  out.set(bytes, 7)
  return out
}

/** A credit record: `bytes` (1 .. 2^32-1) more bytes of frames were consumed. */
export function creditRecord(bytes: number): Uint8Array {
  if (!(Number.isInteger(bytes) && bytes >= 1 && bytes <= 0xffffffff)) throw new RangeError(`credit ${bytes}`)
  const out = new Uint8Array(9)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 0)
  dv.setUint8(4, CONTROL_CREDIT)
  dv.setUint32(5, bytes)
  return out
}

const FIELD_SIZE = { magic: 4, header: 4, control: 1, credit: 4, reasonLength: 2 } as const

export type DeframeEvent =
  | { type: 'frame'; frame: Uint8Array }
  | { type: 'credit'; bytes: number }
  | { type: 'close'; reason: string }
  | { type: 'error'; reason: string }

/**
 * Incremental parser of one direction of a framed stream. Feed it pieces
 * of any size; it returns what completed. After a 'close' or 'error' event
 * it ignores further input.
 */
export class Deframer {
  private state: 'magic' | 'header' | 'control' | 'credit' | 'body' | 'reasonLength' | 'reason' | 'done' =
    'magic'
  /** Bytes of a fixed-size field (magic, header, reason length) gathered so far. */
  private small = new Uint8Array(4)
  private smallHave = 0
  /** Length of the frame or reason being read. */
  private bodyLen = 0
  /** Gathers a body that spans pieces (allocated only then: a whole body in one piece is a view). */
  private body: Uint8Array | undefined
  private bodyHave = 0

  push(piece: Uint8Array): DeframeEvent[] {
    const out: DeframeEvent[] = []
    let i = 0
    while (i < piece.length && this.state !== 'done') {
      switch (this.state) {
        case 'magic':
        case 'header':
        case 'control':
        case 'credit':
        case 'reasonLength': {
          const need = FIELD_SIZE[this.state]
          const take = Math.min(need - this.smallHave, piece.length - i)
          this.small.set(piece.subarray(i, i + take), this.smallHave)
          this.smallHave += take
          i += take
          if (this.smallHave < need) break
          this.smallHave = 0
          const ev = this.fieldDone()
          if (ev) out.push(ev)
          break
        }
        case 'body':
        case 'reason': {
          let body: Uint8Array
          if (this.bodyHave === 0 && piece.length - i >= this.bodyLen) {
            // The whole body is in this piece: a view, no copy (pieces are never reused).
            body = piece.subarray(i, i + this.bodyLen)
            i += this.bodyLen
          } else {
            this.body ??= new Uint8Array(this.bodyLen)
            body = this.body
            const take = Math.min(body.length - this.bodyHave, piece.length - i)
            body.set(piece.subarray(i, i + take), this.bodyHave)
            this.bodyHave += take
            i += take
            if (this.bodyHave < body.length) break
          }
          this.body = undefined
          this.bodyHave = 0
          if (this.state === 'body') {
            this.state = 'header'
            out.push({ type: 'frame', frame: body })
          } else {
            this.state = 'done'
            out.push({ type: 'close', reason: new TextDecoder().decode(body) })
          }
          break
        }
      }
    }
    return out
  }

  /** A fixed-size field is complete in `small`. */
  private fieldDone(): DeframeEvent | undefined {
    const dv = new DataView(this.small.buffer)
    if (this.state === 'magic') {
      for (let k = 0; k < 4; k++)
        if (this.small[k] !== STREAM_MAGIC[k]) return this.fail('not a blocktree frame stream (bad magic)')
      this.state = 'header'
      return undefined
    }
    if (this.state === 'header') {
      const len = dv.getUint32(0)
      if (len === 0) {
        this.state = 'control'
        return undefined
      }
      if (len > MAX_FRAME) return this.fail(`frame of ${len} bytes over the ${MAX_FRAME}-byte limit`)
      this.bodyLen = len
      this.bodyHave = 0
      this.state = 'body'
      return undefined
    }
    if (this.state === 'control') {
      const type = this.small[0]!
      if (type === CONTROL_CLOSE) this.state = 'reasonLength'
      else if (type === CONTROL_CREDIT) this.state = 'credit'
      else return this.fail(`unknown control record type ${type}`)
      return undefined
    }
    if (this.state === 'credit') {
      const n = dv.getUint32(0)
      if (n === 0) return this.fail('credit record of 0 bytes')
      this.state = 'header'
      return { type: 'credit', bytes: n }
    }
    const rlen = dv.getUint16(0)
    if (rlen > MAX_REASON) return this.fail(`close reason of ${rlen} bytes over the ${MAX_REASON}-byte limit`)
    if (rlen === 0) {
      this.state = 'done'
      return { type: 'close', reason: '' }
    }
    this.bodyLen = rlen
    this.bodyHave = 0
    this.state = 'reason'
    return undefined
  }

  private fail(reason: string): DeframeEvent {
    this.state = 'done'
    return { type: 'error', reason }
  }
}
