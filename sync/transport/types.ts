/**
 * Transport-neutral connections (DESIGN.md, Replication). A `Connection` is an
 * authenticated, framed, duplex message stream with the remote node's id. The
 * transport authenticates the remote (iroh: the QUIC TLS handshake on its
 * Ed25519 key; Hyperswarm: the Noise handshake on the key pair seeded from the
 * same identity seed; in-memory: whoever created the pair), so a node is the
 * same id on every transport. Implementations: `iroh.ts`, `hyperswarm.ts`,
 * `memory.ts`; `test/sync/transport/suite.ts` is the acceptance suite every
 * one of them passes.
 */

/** Which transport carries a connection. */
export type TransportKind = 'iroh' | 'hyperswarm' | 'memory'

/** Largest frame any transport accepts or delivers (bytes of one protocol message). */
export const MAX_FRAME = 8 * 1024 * 1024

/**
 * How to reach a node. `node` is its id (64 lower-case hex chars: the Ed25519
 * public key). `addrs` are transport-specific dial hints, e.g.
 * `iroh:127.0.0.1:40123` (an iroh direct address) or `hs:<node id>` (reachable by key
 * on the Hyperswarm DHT); unknown schemes are ignored.
 */
export interface PeerAddress {
  node: string
  addrs: string[]
  /**
   * DHT topics the node announces (Hyperswarm: `treeTopic` of a tree it
   * replicates). A Hyperswarm dial also looks there, so a node whose key
   * lookup fails, or that came with no address at all, is still found.
   * Other transports ignore it.
   */
  topics?: Uint8Array[]
}

/** Reason a connection ended, as reported to `onClose` listeners. */
export interface CloseInfo {
  /** Human-readable reason (the remote's, when it said one; else the local error). */
  reason: string
  /** True when this side closed it (or rejected a frame), false when the remote or the network did. */
  local: boolean
}

export interface Connection {
  /** Remote node id (hex Ed25519 public key), authenticated by the transport. */
  readonly remoteId: string
  readonly transport: TransportKind
  /** True on the side that dialled. */
  readonly initiator: boolean
  /** Set once closed (by either side). */
  readonly closed: boolean
  /**
   * Send one frame (1..MAX_FRAME bytes; larger throws RangeError). Resolves
   * when the transport has taken it, which applies backpressure: a sender
   * awaiting each send keeps a bounded amount in flight. Frames arrive whole
   * and in order. Rejects once the connection is closed.
   */
  send(frame: Uint8Array): Promise<void>
  /**
   * Set the receiver of frames (one listener; frames that arrived before it
   * was set are queued and delivered to it). A listener that throws closes
   * the connection with the error as reason. A frame over MAX_FRAME from the
   * remote closes the connection.
   */
  onFrame(listener: (frame: Uint8Array) => void): void
  /** Called once when the connection ends (immediately if it already has). */
  onClose(listener: (info: CloseInfo) => void): void
  /** Close with a reason (sent to the remote when the transport can carry it). Idempotent. */
  close(reason?: string): void
  /**
   * Optional: memory for a frame of exactly `size` bytes that this connection
   * sends with one copy fewer when it is the next frame sent (Hyperswarm:
   * built inside the encrypted message). Fill it and `send` it (all of it),
   * or drop it. Any other frame is sent as usual.
   */
  allocFrame?(size: number): Uint8Array
}

/** A way to make and receive connections as this node. */
export interface Transport {
  readonly kind: TransportKind
  /** This node's id. */
  readonly nodeId: string
  /** Dial hints others can use to reach this node on this transport (see PeerAddress). */
  addresses(): string[]
  /**
   * Connect to a node. Rejects when none of its hints for this transport
   * works within the transport's timeout, or when the remote's authenticated
   * id is not `peer.node`.
   */
  dial(peer: PeerAddress): Promise<Connection>
  /** Receive inbound connections (one listener). */
  onConnection(listener: (conn: Connection) => void): void
  /**
   * Announce and look up under a topic (Hyperswarm: the DHT topic of a tree,
   * see `treeTopic`); other transports ignore it. Connections found this way
   * arrive through `onConnection` with `initiator` set by the transport.
   */
  join?(topic: Uint8Array): Promise<void>
  leave?(topic: Uint8Array): Promise<void>
  /** Close every connection and stop listening. */
  close(): Promise<void>
}
