/**
 * The server side of the local API: serves one `NodeApi` (the daemon's
 * LocalNode) to any number of connections, each handling one request at a
 * time. A connection that breaks the protocol is closed with an error frame
 * and a log line; the others keep being served.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { NodeApi } from '../api-types.js'
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
  WRITE_AHEAD,
  writeData,
} from './frames.js'
import { Inbox } from './inbox.js'
import { checkParams, isMethod, METHODS, type Method } from './methods.js'
import { toWire } from './wire-errors.js'

export interface ApiServerOptions {
  /** The node served (its calls run concurrently across connections). */
  api: NodeApi
  /** One line per notable event (protocol errors, internal errors with their stack). */
  log?: (line: string) => void
  /** Called once a client asked the node to stop (after the request was answered). */
  onShutdown?: () => void
  /** Sent in the server's hello frame. */
  pid?: number
  /** Bytes of an upload buffered before the socket is paused (default 4 MiB). */
  uploadHighWater?: number
}

/** Connections served at once; more are refused (closed at once) so a runaway client cannot exhaust descriptors. */
export const MAX_CONNECTIONS = 512

/** Serves a NodeApi over Unix-socket (or any `net`) connections. */
export class ApiServer {
  readonly server: Server
  private readonly conns = new Set<ServerConnection>()
  private stopping = false
  private cutGrace: (() => void) | undefined
  private readonly tasks = new Set<Promise<void>>()

  constructor(readonly o: ApiServerOptions) {
    this.server = createServer((s) => this.accept(s))
    // Each bt command holds one or a few connections; far more means a runaway client.
    this.server.maxConnections = MAX_CONNECTIONS
  }

  /** Listen on a Unix socket path. */
  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e)
      this.server.once('error', onError)
      this.server.listen(path, () => {
        this.server.off('error', onError)
        this.server.on('error', (e) => this.log(`local API server error: ${e.message}`))
        resolve()
      })
    })
  }

  /** Serve one connected socket (also used by tests with a socket pair). */
  accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy()
      return
    }
    const c = new ServerConnection(socket, this)
    this.conns.add(c)
    void c.closed.then(() => this.conns.delete(c))
  }

  /** Open connections. */
  get connections(): number {
    return this.conns.size
  }

  /**
   * Stop: accept nothing new, close idle connections, let requests in flight
   * finish for up to `graceMs`, then abort the uploads and downloads still
   * running (an aborted write leaves its path at the previous content). Calls
   * that cannot be interrupted (e.g. verify) are waited for. Resolves once
   * every connection is closed.
   */
  async close(graceMs: number): Promise<void> {
    this.stopping = true
    const listening = new Promise<void>((r) => this.server.close(() => r()))
    for (const c of this.conns) c.drain()
    const all = () => Promise.all([...this.conns].map((c) => c.closed))
    let timer: NodeJS.Timeout | undefined
    const expired = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((r) => {
        this.cutGrace = () => r(true)
        timer = setTimeout(() => r(true), graceMs)
      }),
    ])
    clearTimeout(timer)
    if (expired && this.conns.size > 0) {
      this.log(`stopping: aborting ${this.conns.size} request(s) still running`)
      for (const c of this.conns) c.abort()
    }
    await all()
    // A connection cut after an abort may leave its handler finishing a step; wait for it.
    await Promise.allSettled([...this.tasks])
    await listening
  }

  /** End the grace period of a `close` in progress now (a second signal). */
  hurry(): void {
    this.cutGrace?.()
  }

  /** Keep a request's handler until it settles, so `close` never returns while one still runs. */
  track(p: Promise<void>): void {
    this.tasks.add(p)
    void p.finally(() => this.tasks.delete(p))
  }

  get isStopping(): boolean {
    return this.stopping
  }

  log(line: string): void {
    this.o.log?.(line)
  }
}

interface Current {
  id: number
  method: Method
  /** Upload: bytes from the client (undefined once the handler stopped reading). */
  inbox?: Inbox
  /** Upload: END or ABORT not yet received. */
  streamOpen: boolean
  /** The handler has answered. */
  answered: boolean
  /** Download: stop producing (CANCEL, disconnect, or stop). */
  cancelled: boolean
  /** Aborted while committing: close the connection soon after the answer is sent. */
  cutAfterAnswer?: boolean
}

/** After an abort, how long a connection may take to close by itself before it is cut. */
const ABORT_LINGER_MS = 1000

const stopping = () =>
  new NodeError(
    'ECLOSED',
    undefined,
    'the node is stopping; the request was abandoned (a write in progress keeps the previous content)',
  )

class ServerConnection {
  readonly closed: Promise<void>
  private readonly parser = new FrameParser()
  private state: 'hello' | 'ready' | 'closed' = 'hello'
  private current: Current | undefined
  private draining = false

  constructor(
    private readonly socket: Socket,
    private readonly srv: ApiServer,
  ) {
    this.closed = new Promise((r) => socket.once('close', () => r()))
    socket.on('close', () => this.onClose())
    socket.on('error', () => {
      // A client that vanished: 'close' follows and cleans up.
    })
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.write(
      jsonFrame(FrameType.HELLO, { protocol: PROTOCOL_VERSION, version: BT_VERSION, pid: srv.o.pid ?? null }),
    )
  }

  private get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Close once the request in flight (if any) is answered. */
  drain(): void {
    this.draining = true
    if (!this.current) this.socket.end()
  }

  /**
   * Abort the request in flight: an upload still streaming fails (its path
   * keeps the previous content), a download stops. A plain call, or a write
   * already committing (its upload ended), runs to completion and is answered:
   * cutting it off would lose the acknowledgement of a change that happened.
   */
  abort(): void {
    this.draining = true
    const c = this.current
    if (!c) {
      this.socket.end()
      this.cutSoon()
      return
    }
    c.cancelled = true
    c.inbox?.fail(stopping())
    if (c.method === 'readFile' || c.streamOpen) this.cutSoon()
    else c.cutAfterAnswer = true
  }

  /** A client that neither reads nor finishes its upload must not hold up the stop. */
  private cutSoon(): void {
    setTimeout(() => this.socket.destroy(), ABORT_LINGER_MS).unref()
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    try {
      for (const f of this.parser.push(chunk)) {
        // A frame before this one may have closed the connection.
        if (this.isClosed) return
        this.onFrame(f.type, f.payload)
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.protocolError(e.message)
      else {
        // A bug in handling one connection must not take the daemon down.
        this.srv.log(`local API: internal error: ${(e as Error).stack ?? String(e)}`)
        this.protocolError('internal error in the node')
      }
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    if (this.state === 'hello') {
      if (type !== FrameType.HELLO) throw new ProtocolError('the first frame must be a hello')
      const h = parseJson(payload)
      if (h.protocol !== PROTOCOL_VERSION)
        throw new ProtocolError(
          `protocol version ${String(h.protocol)} is not supported (this node speaks ${PROTOCOL_VERSION})`,
        )
      this.state = 'ready'
      return
    }
    switch (type) {
      case FrameType.REQUEST:
        this.onRequest(parseJson(payload))
        return
      case FrameType.DATA:
      case FrameType.END:
      case FrameType.ABORT:
        this.onUpload(type, parseStream(payload))
        return
      case FrameType.CANCEL: {
        const { id } = parseStream(payload)
        // A CANCEL may cross the END of its download on the wire: stale ones are ignored.
        if (this.current?.id === id && this.current.method === 'readFile') this.current.cancelled = true
        return
      }
      default:
        throw new ProtocolError(`unexpected frame type ${type} from a client`)
    }
  }

  private onRequest(req: Record<string, unknown>): void {
    const { id, method } = req
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff)
      throw new ProtocolError('request without a valid id')
    if (this.current) throw new ProtocolError('a request arrived before the previous one finished')
    if (!isMethod(method)) {
      this.reply(id, FrameType.ERROR, {
        error: toWire(new NodeError('ENOTSUP', undefined, `unknown local API method '${String(method)}'`)),
      })
      return
    }
    const params = checkParams(method, req.params)
    const spec = METHODS[method] as { stream?: 'upload' | 'download' }
    const c: Current = {
      id,
      method,
      streamOpen: spec.stream === 'upload',
      answered: false,
      cancelled: false,
    }
    this.current = c
    if (this.draining || this.srv.isStopping) {
      // Still consume the upload that follows, so the stream stays in sync until we close.
      this.answer(c, FrameType.ERROR, { error: toWire(stopping()) })
      return
    }
    if (spec.stream === 'upload') {
      c.inbox = new Inbox({
        pause: () => this.socket.pause(),
        resume: () => this.socket.resume(),
        ...(this.srv.o.uploadHighWater ? { high: this.srv.o.uploadHighWater } : {}),
      })
    }
    this.srv.track(this.run(c, params))
  }

  private async run(c: Current, params: unknown[]): Promise<void> {
    try {
      if (c.method === 'readFile') {
        await this.download(c, params)
        this.answer(c, FrameType.END)
        return
      }
      let result: unknown
      if (c.method === 'shutdown') result = null
      else if (c.method === 'writeFile') {
        const [tree, path, opts] = params as [string, string, object]
        result = await this.srv.o.api.writeFile(tree, path, c.inbox!, opts)
      } else {
        const fn = this.srv.o.api[c.method] as (...a: unknown[]) => Promise<unknown>
        result = await fn.apply(this.srv.o.api, params)
      }
      this.answer(c, FrameType.RESULT, { result: result ?? null })
      if (c.method === 'shutdown') this.srv.o.onShutdown?.()
    } catch (e) {
      const error = toWire(e)
      if (error.kind === 'internal')
        this.srv.log(`${c.method} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      else if (c.method === 'writeFile' && error.kind === 'node' && error.code === 'ECLOSED') {
        const [tree, path] = params as [string, string]
        this.srv.log(
          `write of ${tree}:${path} abandoned (${error.message}); the path keeps its previous content`,
        )
      }
      this.answer(c, FrameType.ERROR, { error })
    }
  }

  private async download(c: Current, params: unknown[]): Promise<void> {
    const [tree, path, opts] = params as [string, string, object]
    for await (const chunk of this.srv.o.api.readFile(tree, path, opts)) {
      if (c.cancelled || this.socket.destroyed) break
      writeData(this.socket, c.id, chunk)
      if (this.socket.writableLength > WRITE_AHEAD) {
        try {
          await drained(this.socket)
        } catch {
          break // the client went away
        }
      }
    }
    if (c.cancelled && this.srv.isStopping) throw stopping()
  }

  private onUpload(type: number, { id, data }: { id: number; data: Buffer }): void {
    const c = this.current
    if (!c || c.id !== id || !c.streamOpen)
      throw new ProtocolError(`stream frame for request ${id}, which is not uploading`)
    if (type === FrameType.DATA) {
      if (c.inbox && !c.answered) c.inbox.push(data) // a view: socket reads are fresh buffers, never reused
      return
    }
    c.streamOpen = false
    if (type === FrameType.END) c.inbox?.end()
    else c.inbox?.fail(new NodeError('ECLOSED', undefined, 'the client abandoned the write'))
    this.finish(c)
  }

  /** Send the request's final frame; the request is over once its upload stream is closed too. */
  private answer(c: Current, type: number, body?: Record<string, unknown>): void {
    c.answered = true
    // An upload the handler no longer reads is drained and dropped; the socket must not stay paused.
    if (c.streamOpen) this.socket.resume()
    this.reply(c.id, type, body)
    this.finish(c)
    if (c.cutAfterAnswer) this.cutSoon()
  }

  private finish(c: Current): void {
    if (!c.answered || c.streamOpen || this.current !== c) return
    this.current = undefined
    if (this.draining) this.socket.end()
  }

  private reply(id: number, type: number, body?: Record<string, unknown>): void {
    if (this.state === 'closed' || this.socket.destroyed) return
    if (type === FrameType.END) {
      const head = Buffer.allocUnsafe(9)
      head.writeUInt32BE(5, 0)
      head[4] = FrameType.END
      head.writeUInt32BE(id, 5)
      this.socket.write(head)
      return
    }
    let frame: Buffer
    try {
      frame = jsonFrame(type as 3 | 4, { id, ...body })
    } catch (e) {
      frame = jsonFrame(FrameType.ERROR, {
        id,
        error: toWire(new NodeError('EDAEMON', undefined, `the reply is too large: ${(e as Error).message}`)),
      })
    }
    this.socket.write(frame)
  }

  private protocolError(message: string): void {
    this.srv.log(`local API: closing a connection that broke the protocol: ${message}`)
    if (!this.socket.destroyed)
      this.socket.end(
        jsonFrame(FrameType.ERROR, {
          id: null,
          error: toWire(new NodeError('EDAEMON', undefined, `protocol error: ${message}`)),
        }),
      )
    this.state = 'closed'
    this.abortCurrent(new NodeError('EDAEMON', undefined, `protocol error: ${message}`))
    // Do not wait for a misbehaving peer to read the error frame.
    setTimeout(() => this.socket.destroy(), 1000).unref()
  }

  private onClose(): void {
    this.state = 'closed'
    this.abortCurrent(new NodeError('ECLOSED', undefined, 'the client disconnected'))
  }

  private abortCurrent(e: Error): void {
    const c = this.current
    if (!c) return
    c.cancelled = true
    c.inbox?.fail(e)
  }
}
