/**
 * The Hyperswarm transport: Noise-encrypted UDX streams found through the
 * HyperDHT, by tree topic (`treeTopic`) or directly by node public key. The
 * key pair is `DHT.keyPair(seed)` of the node's identity seed, so the Noise
 * public key is our node id and the handshake authenticates it. Frames are
 * those of framing.ts over the stream.
 *
 * Hyperswarm keeps at most one connection per peer pair: when both sides
 * connect at once it closes one (the same one on both sides), which the
 * other end sees as a remote close; the peer manager takes it from there.
 * Hyperswarm's own redialling of direct peers is switched off after each
 * dial (`leavePeer`): reconnecting is the peer manager's job.
 *
 * DHT: `bootstrap` (HOST:PORT list) when given. Without one, under
 * `loopback` or `lan` no DHT runs at all (nothing is sent, the transport
 * starts at once and only reports that it cannot dial); under `internet`
 * the public bootstrap nodes are used. Under `loopback` the DHT binds
 * 127.0.0.1 and bootstrap hosts must be loopback addresses.
 */

import DHT, { type NoiseSocket } from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import type { Timers } from '../runtime.js'
import { ConnectionClosedError } from './base-connection.js'
import { FramedConnection, type TeardownMode } from './framed-connection.js'
import { allocFrame, frameIn } from './framing.js'
import { errorText, isNodeId, type NetworkMode, parseHostPort } from './network.js'
import type { Connection, PeerAddress, Transport } from './types.js'

export { treeTopic } from './topic.js'

/**
 * Frames at least this long are built in the secret stream's own message
 * memory (`allocFrame`); below it Node would take them from its shared pool.
 */
const ALLOC_MIN = 8192

export interface HyperswarmTransportOptions {
  /** The node's 32-byte Ed25519 identity seed (seeds the Noise key pair). */
  seed: Uint8Array
  timers: Timers
  network: NetworkMode
  /** DHT bootstrap nodes, `HOST:PORT` each. */
  bootstrap?: string[]
  /** A direct dial gives up after this long (default 15 s). */
  timeoutMs?: number
  log?: (line: string) => void
  /**
   * Told once per (node, topic) when a lookup of a joined topic finds a node
   * announcing it. Hyperswarm connects to it by itself (client mode); this
   * lets the node learn who is around (the address book, logs).
   */
  onTopicPeer?: (node: string, topic: Uint8Array) => void
}

interface PendingDial {
  resolve(c: Connection): void
  reject(e: Error): void
  timer: { cancel(): void }
}

/** Start the Hyperswarm transport (listening by key when a DHT runs). */
export async function openHyperswarmTransport(
  opts: HyperswarmTransportOptions,
): Promise<HyperswarmTransport> {
  if (opts.seed.length !== 32) throw new RangeError('hyperswarm: identity seed must be 32 bytes')
  const keyPair = DHT.keyPair(Buffer.from(opts.seed))
  const bootstrap = (opts.bootstrap ?? []).map((b) => {
    const hp = parseHostPort(b)
    if (!hp) throw new Error(`hyperswarm: bootstrap must be HOST:PORT (got ${JSON.stringify(b)})`)
    if (opts.network === 'loopback' && !isLoopbackHost(hp.host))
      throw new Error(`hyperswarm: BT_NETWORK=loopback allows only loopback bootstrap nodes (got ${b})`)
    return hp
  })
  if (bootstrap.length === 0 && opts.network !== 'internet')
    return new HyperswarmTransport(undefined, keyPair.publicKey.toString('hex'), opts)
  const dht = new DHT({
    ...(bootstrap.length > 0 ? { bootstrap } : {}),
    // On loopback every node is directly reachable: a DHT node that believes it is firewalled
    // is reached by holepunching to another port, and on 127.0.0.1 that fails now and then
    // (ETIMEDOUT right after the handshake; raw hyperswarm shows it too). Not firewalled: direct.
    ...(opts.network === 'loopback' ? { host: '127.0.0.1', firewalled: false } : {}),
  })
  const swarm = new Hyperswarm({ keyPair, dht })
  const t = new HyperswarmTransport(swarm, keyPair.publicKey.toString('hex'), opts)
  // Announce our key so direct dials find us.
  await swarm.listen()
  return t
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export class HyperswarmTransport implements Transport {
  readonly kind = 'hyperswarm' as const
  private listener: ((conn: Connection) => void) | undefined
  private readonly conns = new Set<HyperswarmConnection>()
  private readonly pending = new Map<string, PendingDial>()
  private closing = false
  private readonly timeoutMs: number
  private readonly log: (line: string) => void
  /** `node/topic` pairs already reported to onTopicPeer. */
  private readonly found = new Set<string>()

  constructor(
    private readonly swarm: Hyperswarm | undefined,
    readonly nodeId: string,
    private readonly opts: HyperswarmTransportOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 15_000
    this.log = opts.log ?? (() => {})
    swarm?.on('connection', (socket) => this.onSocket(socket))
    // Connections come and go as lookups find peers: a cheap moment to look for new ones.
    if (opts.onTopicPeer) swarm?.on('update', () => this.reportTopicPeers())
  }

  /** False when no DHT runs (no bootstrap given and not `internet`). */
  get active(): boolean {
    return this.swarm !== undefined
  }

  /** `hs:<node id>`: reachable by key on the DHT (no address needed). */
  addresses(): string[] {
    return this.swarm && !this.closing ? [`hs:${this.nodeId}`] : []
  }

  /**
   * Connect to `peer.node`, looked up by its key on the DHT and, when given,
   * under `peer.topics` (whichever finds it first; a connection from it that
   * arrives meanwhile, e.g. found by a topic this node joined, counts too).
   */
  dial(peer: PeerAddress): Promise<Connection> {
    const swarm = this.swarm
    if (this.closing) return Promise.reject(new ConnectionClosedError('transport closed'))
    if (!swarm) return Promise.reject(new Error('hyperswarm: no DHT to dial through (give a bootstrap)'))
    if (!isNodeId(peer.node)) return Promise.reject(new Error(`hyperswarm: not a node id: ${peer.node}`))
    if (peer.node === this.nodeId) return Promise.reject(new Error('hyperswarm: cannot dial self'))
    if (this.pending.has(peer.node))
      return Promise.reject(new Error(`hyperswarm: a dial to ${peer.node.slice(0, 8)} is in progress`))
    // Hyperswarm keeps one connection per peer: it would not make a second.
    if ([...this.conns].some((c) => c.remoteId === peer.node && !c.closed))
      return Promise.reject(new Error(`hyperswarm: already connected to ${peer.node.slice(0, 8)}`))
    const key = Buffer.from(peer.node, 'hex')
    // Topic lookups beside the key lookup (client only: we announce nothing for the dial). Each is
    // its own session, so a topic this node also joined for a tree of its own stays joined after.
    const sessions = (peer.topics ?? []).map((t) =>
      swarm.join(Buffer.from(t), { client: true, server: false }),
    )
    return new Promise<Connection>((resolve, reject) => {
      const done = () => {
        this.pending.delete(peer.node)
        if (swarm.destroyed) return
        swarm.leavePeer(key)
        for (const s of sessions)
          s.destroy().catch((e: unknown) => this.log(`hyperswarm: leaving a dial's topic: ${errorText(e)}`))
      }
      const timer = this.opts.timers.setTimeout(() => {
        done()
        reject(new Error(`hyperswarm: dial to ${peer.node.slice(0, 8)} timed out after ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.pending.set(peer.node, {
        resolve: (c) => {
          timer.cancel()
          done()
          resolve(c)
        },
        reject: (e) => {
          timer.cancel()
          done()
          reject(e)
        },
        timer,
      })
      swarm.joinPeer(key)
    })
  }

  onConnection(listener: (conn: Connection) => void): void {
    this.listener = listener
  }

  /** Announce under `topic` and connect to others announcing it; resolves once announced. */
  async join(topic: Uint8Array): Promise<void> {
    if (!this.swarm || this.closing) return
    await this.swarm.join(Buffer.from(topic), { server: true, client: true }).flushed()
    this.reportTopicPeers()
  }

  /** Report nodes the swarm found under a topic (its peer table), each (node, topic) once. */
  private reportTopicPeers(): void {
    const tell = this.opts.onTopicPeer
    const swarm = this.swarm
    if (!tell || !swarm || this.closing) return
    for (const info of swarm.peers.values()) {
      const node = info.publicKey.toString('hex')
      if (node === this.nodeId) continue
      for (const topic of info.topics) {
        const key = `${node}/${topic.toString('hex')}`
        if (this.found.has(key)) continue
        this.found.add(key)
        try {
          tell(node, new Uint8Array(topic))
        } catch (e) {
          this.log(`topic peer listener failed: ${errorText(e)}`)
        }
      }
    }
  }

  async leave(topic: Uint8Array): Promise<void> {
    if (!this.swarm || this.closing) return
    await this.swarm.leave(Buffer.from(topic))
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    for (const p of [...this.pending.values()]) p.reject(new ConnectionClosedError('transport closed'))
    const ends = [...this.conns].map((c) => {
      c.close('transport closed')
      return c.done
    })
    await Promise.all(ends)
    await this.swarm?.destroy()
  }

  private onSocket(socket: NoiseSocket): void {
    // Before anything else: an unhandled 'error' on a socket would crash the process.
    socket.on('error', () => {})
    const remote = socket.remotePublicKey.toString('hex')
    const c = new HyperswarmConnection(remote, socket.isInitiator, this.opts.timers, socket)
    this.conns.add(c)
    c.onClose(() => this.conns.delete(c))
    c.start()
    if (this.closing) {
      c.close('transport closed')
      return
    }
    const dial = this.pending.get(remote)
    if (dial) {
      dial.resolve(c)
      return
    }
    if (!this.listener) {
      c.close('not accepting connections')
      return
    }
    try {
      this.listener(c)
    } catch (e) {
      this.log(`hyperswarm: connection listener failed: ${errorText(e)}`)
      c.close(`connection listener failed: ${errorText(e)}`)
    }
  }
}

class HyperswarmConnection extends FramedConnection {
  constructor(
    remoteId: string,
    initiator: boolean,
    timers: Timers,
    private readonly socket: NoiseSocket,
  ) {
    super(remoteId, 'hyperswarm', initiator, timers)
  }

  /**
   * A frame built inside the secret-stream message that will carry it
   * (`alloc`): sent without the copy the stream makes of any other buffer,
   * provided nothing else is allocated on the stream before it is written
   * (else the stream copies it, as it would any buffer). Small frames come
   * from allocFrame: the stream's alloc would carve them from Node's shared
   * pool, and frame memory must be a buffer of its own (framing.ts).
   */
  allocFrame(size: number): Uint8Array {
    if (size < ALLOC_MIN || this.socket.destroyed) return allocFrame(size)
    return frameIn(this.socket.alloc(size + 4))
  }

  start(): void {
    const s = this.socket
    s.on('data', (d: Buffer) => this.received(new Uint8Array(d.buffer, d.byteOffset, d.length)))
    s.on('end', () => this.linkFailed('stream ended without a close record'))
    s.on('error', (e: unknown) => this.linkFailed(errorText(e)))
    s.on('close', () => {
      this.linkFailed('connection closed')
      this.markDone()
    })
    if (s.destroyed) {
      this.linkFailed('connection closed')
      this.markDone()
      return
    }
    this.begin()
  }

  protected writeBytes(piece: Uint8Array): Promise<void> {
    const s = this.socket
    if (s.destroyed) return Promise.reject(new Error('connection closed'))
    // No copy: the stream may hold the buffer after write() returns, and the piece is its own
    // (FramedConnection never reuses one). One write is one secret-stream message. A piece from
    // `allocFrame` must be written as the very object the stream handed out.
    const buf = piece instanceof Buffer ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length)
    if (s.write(buf)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        s.off('drain', onDrain)
        s.off('close', onClose)
      }
      const onDrain = () => {
        cleanup()
        resolve()
      }
      const onClose = () => {
        cleanup()
        reject(new Error('connection closed'))
      }
      s.on('drain', onDrain)
      s.on('close', onClose)
    })
  }

  protected teardown(_reason: string, how: TeardownMode): void {
    const s = this.socket
    if (how === 'abort') {
      s.destroy()
      return
    }
    // Graceful: what we wrote (the close record) reaches the remote first.
    s.end()
    const timer = this.timers.setTimeout(() => s.destroy(), 3000)
    s.once('close', () => timer.cancel())
  }
}
