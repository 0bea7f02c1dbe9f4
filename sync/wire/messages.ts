/**
 * The messages of the replication protocol (docs/PROTOCOL.md is the
 * specification; `codec.ts` encodes them into frames and validates every
 * field of every received frame). One connection carries any number of
 * trees, each on a channel the opener numbers.
 *
 * This file is the contract between the codec, the engine (sync/replica/)
 * and the simulator: types and limits only.
 */
import type { PeerAddress } from '../transport/types.js'

export const PROTOCOL_VERSION = 1
/** ALPN of the iroh transport. */
export const ALPN = 'blocktree/1'

/** Limits a receiver enforces (a frame breaking one closes the connection). */
export const LIMITS = {
  /** Channels open at once on one connection. */
  channels: 256,
  /** Chunk ids in one want/have/nochunk message. */
  ids: 4096,
  /** Bytes of one chunk's stored data (256 KiB FastCDC max + manifest headroom + crypto overhead). */
  chunk: 1024 * 1024,
  /** Bytes of one Automerge sync message. */
  sync: 7 * 1024 * 1024,
  /** Shard ids in one shard summary. */
  shards: 100_000,
  /** Highest shard number (inode ids carry their shard in at most 6 digits, sync/names.ts). */
  maxShard: 999_999,
  /**
   * Signed membership entries in one message: the whole log travels in one
   * `members`/`welcome` (32,768 entries of at most 163 bytes fit in a frame).
   */
  members: 32_768,
  /** Peer addresses in one peer-exchange message. */
  peers: 256,
  /** Bytes of any text field (agent, reason, names). */
  text: 1024,
  /** Dial hints of one peer in a peer-exchange message. */
  addrs: 16,
  /** Bytes of one encoded membership entry. */
  entry: 512,
} as const

/** Roles in a tree (same strings as node/api-types TreeRole). */
export type Role = 'admin' | 'writer' | 'reader' | 'server'

/** Stable error codes of `refuse` and `error` messages. */
export type ProtocolErrorCode =
  | 'EVERSION' // no common protocol version
  | 'EMALFORMED' // a frame that does not decode or breaks a limit
  | 'EORDER' // a message not allowed in the current state (e.g. sync before open)
  | 'ENOTMEMBER' // the remote is not a member of the tree it asked for
  | 'EFORBIDDEN' // the remote may not do this (a reader sending changes, a revoked member)
  | 'EINVITE' // invite proof wrong, expired or already used
  | 'ENOTREE' // tree unknown here
  | 'EINTERNAL' // this side failed

export type Message =
  /** First frame each way. The highest common version in [minVersion, version] is used. */
  | { type: 'hello'; version: number; minVersion: number; agent: string }
  /**
   * Ask to replicate tree `tree` (32 hex) on `channel` (chosen by the sender, unique among its open
   * channels). `members`, optional: the membership entries that make the sender a member (its add
   * and its signers' adds back to the genesis), so a replica that has not heard of it yet can check
   * it (PROTOCOL.md section 4).
   */
  | { type: 'open'; channel: number; tree: string; members?: Uint8Array[] }
  /** Ask to join tree `tree` with an invitation: proof = HMAC(secret, ...) as PROTOCOL.md says. */
  | { type: 'join'; channel: number; tree: string; invite: string; proof: Uint8Array }
  /** Answer to `join`: what a new member needs. `key` is the tree's content key. */
  | { type: 'welcome'; channel: number; name: string; role: Role; key: Uint8Array; members: Uint8Array[] }
  /** Answer to `open`/`join` accepted: the channel is live; `role` is the opener's role as the acceptor sees it. */
  | { type: 'accept'; channel: number; role: Role }
  /** Answer to `open`/`join` refused, or a channel closed by the sender. */
  | { type: 'refuse'; channel: number; code: ProtocolErrorCode; reason: string }
  /** Signed membership entries (sync/membership.ts), sent on accept and when they change. */
  | { type: 'members'; channel: number; entries: Uint8Array[] }
  /** The shards the sender holds (sent after accept and when a new shard appears). */
  | { type: 'shards'; channel: number; shards: number[] }
  /** One Automerge sync message for one shard. */
  | { type: 'sync'; channel: number; shard: number; data: Uint8Array }
  /** Ask for chunks (64-hex BLAKE3 ids of stored bytes). */
  | { type: 'want'; channel: number; ids: string[] }
  /** Chunks the sender holds, in answer to want or unasked. */
  | { type: 'have'; channel: number; ids: string[] }
  /** One chunk's stored bytes; the receiver verifies BLAKE3(data) == id before use. */
  | { type: 'chunk'; channel: number; id: string; data: Uint8Array }
  /** Chunks asked for that the sender does not hold. */
  | { type: 'nochunk'; channel: number; ids: string[] }
  /** Peer exchange: other members' addresses the sender knows for this tree. */
  | { type: 'peers'; channel: number; peers: PeerAddress[] }
  | { type: 'ping'; nonce: number }
  | { type: 'pong'; nonce: number }
  /** Fatal: the sender closes the connection after it. */
  | { type: 'error'; code: ProtocolErrorCode; reason: string }

export type MessageType = Message['type']

/** A received frame that breaks the protocol; the connection is closed with `code` and `message`. */
export class ProtocolError extends Error {
  override name = 'ProtocolError'
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}
