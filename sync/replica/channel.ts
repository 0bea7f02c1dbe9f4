/**
 * One tree replicated over one link: its number, who opened it, whether it
 * is live, the remote's role, and the per-shard Automerge sync states of
 * this peer (one per shard, created on first use; read-only towards a
 * reader, so Automerge itself stops a reader from offering changes).
 */
import type { SyncState } from '../automerge.js'
import type { Message, Role } from '../wire/messages.js'
import type { PeerLink } from './peer-link.js'
import type { TreeEntry } from './tree-entry.js'

/** Roles whose changes other replicas take. */
export function canWrite(role: Role | undefined): boolean {
  return role === 'writer' || role === 'admin' || role === 'server'
}

/** Distributes the channel-message variants over the union (each keeps its own fields). */
type Omit2<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never
/** A message that travels on a channel, without its channel number. */
export type ChannelMessage = Omit2<Extract<Message, { channel: number }>, 'channel'>

export class Channel {
  state: 'pending' | 'live' = 'pending'
  /** Our role as the acceptor said it (set by `accept` on channels we opened). */
  myRole: Role | undefined
  /** Entries count of the membership last sent here (the log only grows). */
  membersSent = -1
  /** The peer-exchange list last sent here (sent again only when it changes). */
  peersSent = ''
  /** Shards the remote said it holds. */
  remoteShards = new Set<number>()
  /** Ids the remote asked for that we lacked: told with `have` once they arrive here. */
  readonly owed = new Set<string>()
  /** Ids the remote asked for that we lack but are fetching (ChunkFetcher.hold), with their hold timers. */
  readonly held = new Map<string, { cancel(): void }>()
  private readonly states = new Map<number, SyncState>()

  constructor(
    readonly id: number,
    readonly link: PeerLink,
    readonly entry: TreeEntry,
    /** True when this side sent the `open`. */
    readonly mine: boolean,
    /** The remote's role in our membership. */
    public remoteRole: Role,
  ) {}

  get remote(): string {
    return this.link.remote
  }

  get live(): boolean {
    return this.state === 'live' && this.entry.channels.has(this)
  }

  /** The sync state of a shard for this peer. */
  syncState(shard: number): SyncState {
    let s = this.states.get(shard)
    if (!s) {
      s = this.entry.r.tree.newSyncState({ readOnly: !canWrite(this.remoteRole) })
      this.states.set(shard, s)
    }
    return s
  }

  /** Drop a shard's sync state (the next message starts over: heads and a full have-filter). */
  resetShard(shard: number): void {
    this.states.get(shard)?.free()
    this.states.delete(shard)
  }

  /** Drop every sync state (role change: read-only-ness differs). */
  resetAll(): void {
    for (const s of this.states.values()) s.free()
    this.states.clear()
  }

  /** Shards with a sync state here. */
  shards(): number[] {
    return [...this.states.keys()]
  }

  /** Send a channel message; counts its bytes for the tree. Returns when the transport took it. */
  send(m: ChannelMessage): Promise<void> {
    const { bytes, done } = this.link.send({ ...m, channel: this.id } as Message)
    this.entry.sent(bytes)
    return done
  }
}
