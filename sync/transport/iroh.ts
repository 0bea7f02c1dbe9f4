/**
 * The iroh transport (`@number0/iroh`, QUIC, ALPN `blocktree/1`). The
 * endpoint's secret key is the node's Ed25519 identity seed, so the iroh
 * endpoint id is our node id and QUIC's TLS handshake authenticates it.
 * One bidirectional stream per connection carries the frames of
 * framing.ts. Bytes cross the binding as `Array<number>`: we convert with
 * indexed loops, in pieces of at most READ_PIECE / WRITE_PIECE bytes
 * (never `readToEnd`), which bounds memory per call; bulk throughput stays
 * limited by the binding (DESIGN.md, docs/PERFORMANCE.md).
 *
 * Dial hints: `iroh:IP:PORT` (`iroh:[v6]:PORT`). Under `loopback` the
 * endpoint uses presetMinimal (no relays, no discovery) bound to 127.0.0.1
 * and ::1 only.
 */
// The file itself: the package's "main" names a file it does not ship, and
// resolving the bare name prints a deprecation warning on every start.
import iroh from '@number0/iroh/index.js'
import type { Timers } from '../runtime.js'
import { ALPN } from '../wire/messages.js'
import { ConnectionClosedError } from './base-connection.js'
import { FramedConnection, type TeardownMode } from './framed-connection.js'
import { errorText, isNodeId, type NetworkMode, parseHostPort } from './network.js'
import type { Connection, PeerAddress, Transport } from './types.js'

const { Endpoint, EndpointAddr, EndpointId, presetMinimal, presetN0 } = iroh
type IrohEndpoint = InstanceType<typeof Endpoint>
type IrohConn = Awaited<ReturnType<IrohEndpoint['connect']>>
type BiStream = Awaited<ReturnType<IrohConn['openBi']>>
type Incoming = NonNullable<Awaited<ReturnType<IrohEndpoint['acceptNext']>>>

const ALPN_BYTES = Array.from(new TextEncoder().encode(ALPN))
/**
 * Largest piece asked of one read call. The binding builds a JS array of
 * that many elements per call; arrays past ~16 K elements land in V8's
 * large-object space, and reading 12 KiB pieces cost ~25% less CPU per byte
 * than 64 KiB ones here (bench/sync-transfer.ts profiles).
 */
const READ_PIECE = 12 * 1024
/**
 * Largest piece given to one write call. The JS array it needs takes 8
 * bytes per byte; past ~16 K elements V8 puts it in large-object space and
 * building it gets several times slower (measured here).
 */
const WRITE_PIECE = 12 * 1024

export interface IrohTransportOptions {
  /** The node's 32-byte Ed25519 identity seed (the iroh secret key). */
  seed: Uint8Array
  timers: Timers
  network: NetworkMode
  /** UDP port to bind (default 0: any free port). */
  port?: number
  /** A dial or an inbound handshake gives up after this long (default 10 s). */
  timeoutMs?: number
  log?: (line: string) => void
}

/** Bind an iroh endpoint as this node and start accepting connections. */
export async function openIrohTransport(opts: IrohTransportOptions): Promise<IrohTransport> {
  if (opts.seed.length !== 32) throw new RangeError('iroh: identity seed must be 32 bytes')
  const b = Endpoint.builder()
  if (opts.network === 'internet') presetN0(b)
  else presetMinimal(b)
  b.secretKey(Array.from(opts.seed))
  b.alpns([ALPN_BYTES])
  const port = opts.port ?? 0
  if (opts.network === 'loopback') {
    // Both loopbacks: with only the IPv4 bind, iroh also binds [::] on every interface.
    b.bindAddr(`127.0.0.1:${port}`)
    b.bindAddr(`[::1]:${port}`)
  }
  const ep = await b.bind()
  return new IrohTransport(ep, opts)
}

export class IrohTransport implements Transport {
  readonly kind = 'iroh' as const
  readonly nodeId: string
  private listener: ((conn: Connection) => void) | undefined
  private readonly conns = new Set<IrohConnection>()
  private closing = false
  private readonly timeoutMs: number
  private readonly log: (line: string) => void

  constructor(
    private readonly ep: IrohEndpoint,
    private readonly opts: IrohTransportOptions,
  ) {
    this.nodeId = ep.id().toString()
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.log = opts.log ?? (() => {})
    void this.acceptLoop()
  }

  addresses(): string[] {
    if (this.closing) return []
    return this.ep
      .addr()
      .directAddresses()
      .map((a) => `iroh:${a}`)
  }

  async dial(peer: PeerAddress): Promise<Connection> {
    if (this.closing) throw new ConnectionClosedError('transport closed')
    if (!isNodeId(peer.node)) throw new Error(`iroh: not a node id: ${peer.node}`)
    if (peer.node === this.nodeId) throw new Error('iroh: cannot dial self')
    const hints: string[] = []
    for (const a of peer.addrs) {
      if (!a.startsWith('iroh:')) continue
      const hp = parseHostPort(a.slice(5))
      if (hp) hints.push(a.slice(5))
    }
    // Without discovery only a direct address can reach the node.
    if (hints.length === 0 && this.opts.network !== 'internet')
      throw new Error(`iroh: no iroh address for ${peer.node.slice(0, 8)}`)
    const addr = new EndpointAddr(EndpointId.fromString(peer.node), null, hints)
    const qc = await this.bounded(this.ep.connect(addr, ALPN_BYTES), 'dial', (late) => late.close(0n, []))
    try {
      const remote = qc.remoteId().toString()
      if (remote !== peer.node)
        throw new Error(`iroh: dialled ${peer.node.slice(0, 8)} but reached ${remote}`)
      const bi = await this.bounded(qc.openBi(), 'open stream')
      return this.adopt(new IrohConnection(remote, true, this.opts.timers, qc, bi))
    } catch (e) {
      qc.close(0n, Array.from(new TextEncoder().encode(errorText(e))))
      throw e
    }
  }

  onConnection(listener: (conn: Connection) => void): void {
    this.listener = listener
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    const ends = [...this.conns].map((c) => {
      c.close('transport closed')
      return c.done
    })
    // Let close records go out, bounded by the connections' own grace timers.
    await Promise.all(ends)
    await this.ep.close()
  }

  private adopt(c: IrohConnection): IrohConnection {
    this.conns.add(c)
    c.onClose(() => this.conns.delete(c))
    c.start()
    return c
  }

  private async acceptLoop(): Promise<void> {
    for (;;) {
      let inc: Incoming | null
      try {
        inc = await this.ep.acceptNext()
      } catch (e) {
        if (!this.closing) this.log(`iroh: accept failed: ${errorText(e)}`)
        return
      }
      if (!inc) return
      this.handshake(inc).catch((e) => this.log(`iroh: inbound connection failed: ${errorText(e)}`))
    }
  }

  private async handshake(inc: Incoming): Promise<void> {
    const accepting = await inc.accept()
    const qc = await this.bounded(accepting.connect(), 'inbound handshake', (late) => late.close(0n, []))
    let bi: BiStream
    try {
      // The dialler's stream appears once its magic arrives.
      bi = await this.bounded(qc.acceptBi(), 'inbound stream')
    } catch (e) {
      qc.close(0n, [])
      throw e
    }
    const c = this.adopt(new IrohConnection(qc.remoteId().toString(), false, this.opts.timers, qc, bi))
    if (this.closing || !this.listener) {
      c.close(this.closing ? 'transport closed' : 'not accepting connections')
      return
    }
    try {
      this.listener(c)
    } catch (e) {
      c.close(`connection listener failed: ${errorText(e)}`)
    }
  }

  /** `p` or a timeout; a result that arrives after the timeout goes to `late` (to release it). */
  private bounded<T>(p: Promise<T>, what: string, late?: (v: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timedOut = false
      const timer = this.opts.timers.setTimeout(() => {
        timedOut = true
        reject(new Error(`iroh: ${what} timed out after ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      p.then(
        (v) => {
          if (timedOut) late?.(v)
          else {
            timer.cancel()
            resolve(v)
          }
        },
        (e) => {
          timer.cancel()
          if (!timedOut) reject(new Error(`iroh: ${what} failed: ${errorText(e)}`))
        },
      )
    })
  }
}

/**
 * bytes[from..to) as the binding's Array<number>, written into `into` when it
 * has that length (an indexed loop: several times faster than Array.from).
 */
function toArray(bytes: Uint8Array, from: number, to: number, into?: number[]): number[] {
  const out = into?.length === to - from ? into : new Array<number>(to - from)
  for (let i = from; i < to; i++) out[i - from] = bytes[i]!
  return out
}

/** The binding's Array<number> as bytes (an indexed loop: ~3x faster than Uint8Array.from here). */
function fromArray(piece: number[]): Uint8Array {
  const out = new Uint8Array(piece.length)
  for (let i = 0; i < piece.length; i++) out[i] = piece[i]!
  return out
}

class IrohConnection extends FramedConnection {
  /**
   * Reused for every full-size write piece: the binding copies the array's
   * contents during the call, so it is free again once writeAll returns its
   * promise (one array per connection instead of one per 12 KiB).
   */
  private readonly scratch = new Array<number>(WRITE_PIECE).fill(0)

  constructor(
    remoteId: string,
    initiator: boolean,
    timers: Timers,
    private readonly qc: IrohConn,
    private readonly bi: BiStream,
  ) {
    super(remoteId, 'iroh', initiator, timers)
  }

  start(): void {
    this.begin()
    void this.readLoop()
  }

  private async readLoop(): Promise<void> {
    for (;;) {
      let piece: number[]
      try {
        piece = await this.bi.recv.read(READ_PIECE)
      } catch (e) {
        this.linkFailed(this.qc.closeReason() ?? errorText(e))
        return
      }
      if (piece.length === 0) {
        this.linkFailed('stream ended without a close record')
        return
      }
      this.received(fromArray(piece))
    }
  }

  protected async writeBytes(piece: Uint8Array): Promise<void> {
    for (let o = 0; o < piece.length; o += WRITE_PIECE) {
      await this.bi.send.writeAll(toArray(piece, o, Math.min(piece.length, o + WRITE_PIECE), this.scratch))
    }
  }

  protected teardown(reason: string, how: TeardownMode): void {
    const reasonBytes = Array.from(new TextEncoder().encode(reason.slice(0, 200)))
    const end = () => {
      this.qc.close(0n, reasonBytes)
      this.markDone()
    }
    if (how !== 'flushed') {
      end()
      return
    }
    // Our close record is written: finish the stream and let the remote,
    // which closes the connection when it reads the record, end it; if it
    // does not within the grace period, end it ourselves.
    const timer = this.timers.setTimeout(end, 3000)
    this.bi.send.finish().catch(() => {})
    this.qc.closed().then(
      () => {
        timer.cancel()
        end()
      },
      () => {
        timer.cancel()
        end()
      },
    )
  }
}
