/**
 * One client connection to the local API: the hello exchange, then one
 * request at a time — a plain call, an upload (writeFile) or a download
 * (readFile) — with backpressure both ways.
 */
import { connect, type Socket } from 'node:net'
import { NodeError } from '../node-error.js'
import { BT_VERSION } from '../version.js'
import {
  drained,
  FrameParser,
  FrameType,
  jsonFrame,
  PROTOCOL_VERSION,
  ProtocolError,
  parseJson,
  parseStream,
  streamHeader,
  WRITE_AHEAD,
  writeData,
} from './frames.js'
import { Inbox } from './inbox.js'
import type { Method } from './methods.js'
import { fromWire } from './wire-errors.js'

/** What the server said about itself in its hello frame. */
export interface ServerHello {
  protocol: number
  version: string
  pid?: number
}

interface Pending {
  id: number
  resolve(v: unknown): void
  reject(e: Error): void
  /** Download: where DATA goes; END ends it. */
  inbox?: Inbox
}

const lost = () =>
  new NodeError('EDAEMON', undefined, 'lost the connection to the node (it stopped or crashed)')

/** One connection to a daemon: hello on open, then one request at a time (use `RemoteApi` for a pool). */
export class ClientConnection {
  private readonly parser = new FrameParser()
  private pending: Pending | undefined
  private nextId = 1
  private fatal: Error | undefined
  private helloWaiter: { resolve(h: ServerHello): void; reject(e: Error): void } | undefined
  private _closed = false
  hello: ServerHello | undefined

  private constructor(private readonly socket: Socket) {
    socket.on('data', (b: Buffer) => this.onData(b))
    socket.on('error', (e) => {
      this.fatal ??= new NodeError('EDAEMON', undefined, `local API connection failed: ${e.message}`)
    })
    socket.on('close', () => this.onClose())
  }

  /** Connect to the socket at `path` and exchange hellos (NodeError EDAEMON if that fails). */
  static open(path: string, timeoutMs = 5000): Promise<ClientConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(path)
      const c = new ClientConnection(socket)
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new NodeError('EDAEMON', path, `the node did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      const fail = (e: Error) => {
        clearTimeout(timer)
        socket.destroy()
        reject(
          e instanceof NodeError ? e : new NodeError('EDAEMON', path, `cannot reach the node: ${e.message}`),
        )
      }
      socket.once('error', fail)
      c.helloWaiter = {
        resolve: () => {
          clearTimeout(timer)
          socket.off('error', fail)
          resolve(c)
        },
        reject: fail,
      }
      socket.write(jsonFrame(FrameType.HELLO, { protocol: PROTOCOL_VERSION, version: BT_VERSION }))
    })
  }

  get closed(): boolean {
    return this._closed
  }

  /** A request whose reply is one RESULT or ERROR frame. */
  call(method: Method, params: unknown[]): Promise<unknown> {
    return this.begin(method, params).done
  }

  /** writeFile: stream `source` after the request; resolves with the RESULT. */
  async upload(method: Method, params: unknown[], source: AsyncIterable<Uint8Array>): Promise<unknown> {
    const { id, done } = this.begin(method, params)
    let answered = false
    const settled = done.then(
      () => {
        answered = true
      },
      () => {
        answered = true
      },
    )
    let sourceError: { e: unknown } | undefined
    let it: AsyncIterator<Uint8Array> | undefined
    const stop = settled.then(() => undefined)
    try {
      it = source[Symbol.asyncIterator]()
      for (;;) {
        // An early answer (an error) must not wait for a slow source to produce more.
        const next = it.next()
        next.catch(() => undefined) // if it loses the race, its failure no longer matters
        const r = await Promise.race([next, stop])
        if (!r || r.done) break
        if (answered || this._closed) break
        writeData(this.socket, id, r.value)
        if (this.socket.writableLength > WRITE_AHEAD)
          await Promise.race([drained(this.socket).catch(() => undefined), settled])
      }
    } catch (e) {
      sourceError = { e }
    }
    if (answered || this._closed) void Promise.resolve(it?.return?.()).catch(() => undefined)
    if (!this._closed)
      this.socket.write(streamHeader(sourceError || answered ? FrameType.ABORT : FrameType.END, id))
    if (sourceError) {
      await settled
      throw sourceError.e
    }
    return done
  }

  /** readFile: the DATA frames of the reply, with backpressure; breaking out early cancels it. */
  async *download(method: Method, params: unknown[]): AsyncGenerator<Uint8Array> {
    const inbox = new Inbox({ pause: () => this.socket.pause(), resume: () => this.socket.resume() })
    const { id, done } = this.begin(method, params, inbox)
    done.catch(() => undefined)
    let finished = false
    try {
      yield* inbox
      finished = true
    } finally {
      if (!finished && !this._closed && this.pending?.id === id) {
        this.socket.write(streamHeader(FrameType.CANCEL, id))
        inbox.fail(new Error('cancelled'))
        await done.catch(() => undefined)
      }
    }
  }

  /** Close the connection (idempotent). */
  close(): Promise<void> {
    if (this._closed) return Promise.resolve()
    return new Promise((r) => {
      this.socket.once('close', () => r())
      this.socket.end()
      setTimeout(() => this.socket.destroy(), 1000).unref()
    })
  }

  private begin(method: Method, params: unknown[], inbox?: Inbox): { id: number; done: Promise<unknown> } {
    if (this.pending) throw new Error(`local API connection is busy (bug: concurrent ${method})`)
    if (this._closed) throw this.fatal ?? lost()
    const id = this.nextId++
    let frame: Buffer
    try {
      frame = jsonFrame(FrameType.REQUEST, { id, method, params })
    } catch (e) {
      throw new NodeError('EDAEMON', undefined, `${method}: request too large: ${(e as Error).message}`)
    }
    const done = new Promise<unknown>((resolve, reject) => {
      const p: Pending = {
        id,
        resolve: (v) => {
          this.pending = undefined
          resolve(v)
        },
        reject: (e) => {
          this.pending = undefined
          reject(e)
        },
      }
      if (inbox) p.inbox = inbox
      this.pending = p
    })
    this.socket.write(frame)
    return { id, done }
  }

  private onData(b: Buffer): void {
    try {
      for (const f of this.parser.push(b)) this.onFrame(f.type, f.payload)
    } catch (e) {
      this.fatal ??= new NodeError(
        'EDAEMON',
        undefined,
        `the node broke the local API protocol: ${(e as Error).message}`,
      )
      this.socket.destroy()
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    if (!this.hello) {
      if (type !== FrameType.HELLO) throw new ProtocolError('the first frame must be a hello')
      const h = parseJson(payload)
      if (h.protocol !== PROTOCOL_VERSION) {
        this.fatal = new NodeError(
          'EDAEMON',
          undefined,
          `the running node (bt ${String(h.version)}) speaks local API protocol ${String(h.protocol)}, ` +
            `this bt ${BT_VERSION} speaks ${PROTOCOL_VERSION}; restart the node (bt down, then bt up)`,
        )
        throw new ProtocolError('protocol version mismatch')
      }
      this.hello = {
        protocol: PROTOCOL_VERSION,
        version: typeof h.version === 'string' ? h.version : '?',
        ...(typeof h.pid === 'number' ? { pid: h.pid } : {}),
      }
      this.helloWaiter?.resolve(this.hello)
      this.helloWaiter = undefined
      return
    }
    const p = this.pending
    if (type === FrameType.RESULT || type === FrameType.ERROR) {
      const m = parseJson(payload)
      if (m.id === null && type === FrameType.ERROR) {
        // A connection-level error: the server closes next.
        this.fatal = fromWire(m.error)
        return
      }
      if (!p || m.id !== p.id)
        throw new ProtocolError(`reply for request ${String(m.id)}, which is not pending`)
      if (type === FrameType.RESULT) {
        if (p.inbox) throw new ProtocolError('a download was answered with a result')
        p.resolve(m.result)
      } else {
        const e = fromWire(m.error)
        p.inbox?.fail(e)
        p.reject(e)
      }
      return
    }
    if (type === FrameType.DATA || type === FrameType.END) {
      const { id, data } = parseStream(payload)
      if (!p?.inbox || p.id !== id)
        throw new ProtocolError(`stream frame for request ${id}, which is not downloading`)
      if (type === FrameType.DATA) p.inbox.push(data)
      else {
        p.inbox.end()
        p.resolve(undefined)
      }
      return
    }
    throw new ProtocolError(`unexpected frame type ${type} from the node`)
  }

  private onClose(): void {
    this._closed = true
    const e = this.fatal ?? lost()
    this.helloWaiter?.reject(e)
    this.helloWaiter = undefined
    const p = this.pending
    if (p) {
      p.inbox?.fail(e)
      p.reject(e)
    }
  }
}
