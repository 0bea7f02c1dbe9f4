/**
 * Framing of the local API (docs/LOCAL-API.md): every frame is
 * `u32 length (big-endian) | u8 type | payload`, where `length` counts the
 * type byte and the payload. Control frames carry JSON; stream frames carry a
 * u32 request id followed by raw bytes.
 */
import type { Socket } from 'node:net'

/** Version of the local API protocol, exchanged in the hello frames. */
export const PROTOCOL_VERSION = 1

/** Largest frame (type byte + payload) either side accepts. */
export const MAX_FRAME = 16 * 1024 * 1024

/**
 * Bytes a stream sender queues in its socket before it waits for 'drain'.
 * Waiting at the socket's own 16 KiB mark would make every chunk a
 * stop-and-wait round; a little more keeps the pipe full.
 */
export const WRITE_AHEAD = 1024 * 1024

/** Largest payload of one data frame; bigger buffers are split. */
export const MAX_DATA = 256 * 1024

export const FrameType = {
  /** JSON `{protocol, version, pid?}`; the first frame each side sends. */
  HELLO: 1,
  /** JSON `{id, method, params}`. */
  REQUEST: 2,
  /** JSON `{id, result}`. */
  RESULT: 3,
  /** JSON `{id, error}`; `id` is null for a connection-level error (the sender then closes). */
  ERROR: 4,
  /** u32 id + bytes of a writeFile upload or a readFile download. */
  DATA: 5,
  /** u32 id: the stream of that request ended normally. */
  END: 6,
  /** u32 id: the client abandons its upload (the write must not take effect). */
  ABORT: 7,
  /** u32 id: the client stops reading a download early. */
  CANCEL: 8,
} as const

export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType]

const TYPES = new Set<number>(Object.values(FrameType))

/** A frame that breaks the protocol; the connection that sent it is closed. */
export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

export interface Frame {
  type: FrameTypeCode
  payload: Buffer
}

/**
 * Incremental frame parser. Checks the length before buffering a frame, so an
 * oversized frame is refused after its first four bytes.
 */
export class FrameParser {
  private parts: Buffer[] = []
  private size = 0

  constructor(private readonly maxFrame = MAX_FRAME) {}

  /** Feed received bytes; returns the complete frames. Throws ProtocolError on a bad header. */
  push(chunk: Buffer): Frame[] {
    this.parts.push(chunk)
    this.size += chunk.length
    const out: Frame[] = []
    for (;;) {
      if (this.size < 4) break
      const head = this.peek(5)
      const len = head.readUInt32BE(0)
      if (len < 1 || len > this.maxFrame)
        throw new ProtocolError(`frame length ${len} is outside 1..${this.maxFrame}`)
      if (this.size < 5) break
      const type = head[4]!
      if (!TYPES.has(type)) throw new ProtocolError(`unknown frame type ${type}`)
      if (this.size < 4 + len) break
      const whole = this.take(4 + len)
      out.push({ type: type as FrameTypeCode, payload: whole.subarray(5) })
    }
    return out
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.size
  }

  private peek(n: number): Buffer {
    const first = this.parts[0]!
    if (first.length >= n || this.parts.length === 1) return first
    this.parts = [Buffer.concat(this.parts)]
    return this.parts[0]!
  }

  private take(n: number): Buffer {
    let first = this.parts[0]!
    if (first.length < n) {
      first = Buffer.concat(this.parts)
      this.parts = [first]
    }
    const frame = first.subarray(0, n)
    if (first.length === n) this.parts.shift()
    else this.parts[0] = first.subarray(n)
    this.size -= n
    return frame
  }
}

/** Encode a JSON control frame; throws RangeError when it exceeds MAX_FRAME. */
export function jsonFrame(type: FrameTypeCode, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8')
  if (json.length + 1 > MAX_FRAME)
    throw new RangeError(`message of ${json.length} bytes exceeds the frame limit of ${MAX_FRAME}`)
  const head = Buffer.allocUnsafe(5)
  head.writeUInt32BE(json.length + 1, 0)
  head[4] = type
  return Buffer.concat([head, json])
}

/** Header of a stream frame (DATA/END/ABORT/CANCEL) carrying `dataLength` bytes after the id. */
export function streamHeader(type: FrameTypeCode, id: number, dataLength = 0): Buffer {
  const head = Buffer.allocUnsafe(9)
  head.writeUInt32BE(1 + 4 + dataLength, 0)
  head[4] = type
  head.writeUInt32BE(id, 5)
  return head
}

/** Parse a JSON control payload into an object; ProtocolError when it is not one. */
export function parseJson(payload: Buffer): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new ProtocolError('control frame is not valid JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProtocolError('control frame is not a JSON object')
  return v as Record<string, unknown>
}

/** Split a stream payload into its request id and data. */
export function parseStream(payload: Buffer): { id: number; data: Buffer } {
  if (payload.length < 4) throw new ProtocolError('stream frame without a request id')
  return { id: payload.readUInt32BE(0), data: payload.subarray(4) }
}

/**
 * Write one DATA frame per MAX_DATA piece of `data` without copying the
 * bytes. Returns false when the socket's buffer is full (wait for 'drain').
 */
export function writeData(socket: Socket, id: number, data: Uint8Array): boolean {
  let ok = true
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  socket.cork()
  for (let at = 0; at < buf.length; at += MAX_DATA) {
    const piece = buf.subarray(at, Math.min(buf.length, at + MAX_DATA))
    socket.write(streamHeader(FrameType.DATA, id, piece.length))
    ok = socket.write(piece)
  }
  socket.uncork()
  return ok
}

/**
 * Resolve once the socket has drained its write buffer; reject when it closes
 * first. Resolves at once when nothing is buffered.
 */
export function drained(socket: Socket): Promise<void> {
  if (!socket.writableNeedDrain) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      if (e) reject(e)
      else resolve()
    }
    const onDrain = () => done()
    const onClose = () => done(new Error('socket closed'))
    socket.on('drain', onDrain)
    socket.on('close', onClose)
  })
}
