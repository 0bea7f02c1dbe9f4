/** A raw local-API client for protocol tests: sends arbitrary bytes, collects the frames it receives. */
import { connect, type Socket } from 'node:net'
import {
  FrameParser,
  FrameType,
  jsonFrame,
  PROTOCOL_VERSION,
  streamHeader,
} from '../../node/daemon/frames.js'

export interface RawFrame {
  type: number
  json?: Record<string, unknown>
  id?: number
  data?: Buffer
}

export class RawClient {
  readonly frames: RawFrame[] = []
  readonly closed: Promise<void>
  private readonly parser = new FrameParser()
  private waiters: (() => void)[] = []

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((r) => socket.once('close', () => r()))
    socket.on('error', () => {})
    socket.on('data', (b: Buffer) => {
      for (const f of this.parser.push(b)) {
        const isJson = f.type <= FrameType.ERROR
        this.frames.push(
          isJson
            ? { type: f.type, json: JSON.parse(f.payload.toString()) }
            : { type: f.type, id: f.payload.readUInt32BE(0), data: Buffer.from(f.payload.subarray(4)) },
        )
      }
      for (const w of this.waiters.splice(0)) w()
    })
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w()
    })
  }

  /** `allowHalfOpen`: do not close our side when the node closes its side (a stubborn client). */
  static open(path: string, o: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ path, allowHalfOpen: o.allowHalfOpen ?? false }, () => resolve(new RawClient(s)))
      s.once('error', reject)
    })
  }

  hello(protocol = PROTOCOL_VERSION): void {
    this.socket.write(jsonFrame(FrameType.HELLO, { protocol, version: 'test' }))
  }

  request(id: number, method: string, params: unknown[]): void {
    this.socket.write(jsonFrame(FrameType.REQUEST, { id, method, params }))
  }

  data(id: number, bytes: Buffer): void {
    this.socket.write(Buffer.concat([streamHeader(FrameType.DATA, id, bytes.length), bytes]))
  }

  stream(type: 6 | 7 | 8, id: number): void {
    this.socket.write(streamHeader(type, id))
  }

  /** Wait for a frame matching `pred` (resolves undefined if the connection closes first). */
  async next(pred: (f: RawFrame) => boolean, timeoutMs = 5000): Promise<RawFrame | undefined> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const i = this.frames.findIndex(pred)
      if (i >= 0) return this.frames.splice(i, 1)[0]
      if (this.socket.destroyed || this.socket.readableEnded) return undefined
      if (Date.now() > end) throw new Error('timed out waiting for a frame')
      await new Promise<void>((r) => {
        this.waiters.push(r)
        setTimeout(r, 50)
      })
    }
  }

  destroy(): void {
    this.socket.destroy()
  }
}
