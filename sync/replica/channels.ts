/**
 * Channels of the engine: opening a tree on a link, answering `open`
 * (membership check, the crossed-open tie), going live, closing (refuse,
 * revocation, hand-over of the sync to another connection to the same
 * node), peer exchange, and applying a membership change to the open
 * channels (PROTOCOL.md sections 3 and 4).
 */
import type { PeerAddress } from '../transport/types.js'
import { LIMITS, ProtocolError, type ProtocolErrorCode } from '../wire/messages.js'
import { Channel, canWrite } from './channel.js'
import type { PeerLink } from './peer-link.js'
import { sendMembers, startChannel } from './shard-sync.js'
import type { TreeEntry } from './tree-entry.js'
import type { EngineEvent } from './types.js'

/** What the channel logic needs of the engine. */
export interface ChannelHost {
  readonly nodeId: string
  readonly trees: Map<string, TreeEntry>
  readonly links: Set<PeerLink>
  readonly knownPeers: ((tree: string) => PeerAddress[]) | undefined
  emit(e: EngineEvent): void
  /** Count and report a rejection. */
  count(node: string, code: ProtocolErrorCode, reason: string): void
  /** Run work whose exception must be logged, not thrown. */
  guard(what: string, fn: () => void): void
}

export class Channels {
  constructor(private readonly h: ChannelHost) {}

  /** Open `e` on a link whose remote is a member, unless a channel for it is already there. */
  openTree(link: PeerLink, e: TreeEntry): void {
    if (link.conn.closed || !link.helloDone) return
    const role = e.r.membership.roleOf(link.remote)
    if (!role) return
    for (const ch of link.channels.values()) if (ch.entry === e) return
    if (link.channels.size >= LIMITS.channels) return
    const ch = new Channel(link.newChannelId(), link, e, true, role)
    link.channels.set(ch.id, ch)
    e.channels.add(ch)
    const proof = e.r.membership.proof?.(this.h.nodeId).slice(0, LIMITS.members)
    link.send({ type: 'open', channel: ch.id, tree: e.id, ...(proof?.length ? { members: proof } : {}) })
  }

  checkNewChannel(link: PeerLink, n: number): void {
    if (!link.isRemoteNumber(n))
      throw new ProtocolError('EORDER', `channel ${n} has the opener's wrong parity`)
    if (link.channels.has(n) || link.joins.has(n)) throw new ProtocolError('EORDER', `channel ${n} is in use`)
    if (link.channels.size >= LIMITS.channels) throw new ProtocolError('EORDER', 'too many channels')
    link.closedIds.delete(n)
  }

  onOpen(link: PeerLink, n: number, tree: string, proof?: Uint8Array[]): void {
    this.checkNewChannel(link, n)
    const refuse = (code: ProtocolErrorCode, reason: string) => {
      link.send({ type: 'refuse', channel: n, code, reason })
      link.forget(n)
      // A tree we do not replicate (yet: a joiner sets it up right after its
      // welcome) is no offence and no reason to hang up.
      if (code === 'ENOTREE') return
      this.h.count(link.remote, code, reason)
      this.closeIfIdle(link)
    }
    const e = this.h.trees.get(tree)
    if (!e) {
      refuse('ENOTREE', `tree ${tree} is not replicated here`)
      return
    }
    // A member added while we were away proves it with the entries that admitted it
    // (verified like any received entries; a non-member's proof admits nothing).
    if (!e.r.membership.roleOf(link.remote) && proof?.length) e.r.membership.merge(proof)
    const role = e.r.membership.roleOf(link.remote)
    if (!role) {
      refuse('ENOTMEMBER', `${link.remote} is not a member of tree ${tree}`)
      return
    }
    const existing = [...link.channels.values()].find((c) => c.entry === e)
    if (existing) {
      if (!existing.mine || existing.state === 'live') {
        refuse('EORDER', `tree ${tree} is already open`)
        return
      }
      // Both sides opened the tree at once: the dialler's channel wins. The
      // dialler ignores the acceptor's open; the acceptor drops its own.
      if (link.conn.initiator) return
      link.forget(existing.id)
      e.channels.delete(existing)
    }
    const ch = new Channel(n, link, e, false, role)
    link.channels.set(n, ch)
    e.channels.add(ch)
    link.send({ type: 'accept', channel: n, role })
    this.goLive(ch)
  }

  goLive(ch: Channel): void {
    ch.state = 'live'
    this.h.emit({ type: 'peer-open', node: ch.remote, tree: ch.entry.id, transport: ch.link.conn.transport })
    if (ch.entry.isSyncChannel(ch)) startChannel(ch, ch.mine)
    else sendMembers(ch)
    this.sharePeersAll(ch.entry)
    ch.entry.fetcher.channelOpened()
  }

  /**
   * Peer exchange: the addresses we know of the tree's members, our own
   * included (a node reached by inbound connections is otherwise never
   * dialable by others), bounded by LIMITS; sent again only when changed.
   */
  sharePeers(ch: Channel): void {
    const known = this.h.knownPeers?.(ch.entry.id) ?? []
    const peers = known
      .filter((p) => p.node !== ch.remote && p.addrs.length > 0)
      .slice(0, LIMITS.peers)
      .map((p) => ({ node: p.node, addrs: p.addrs.slice(0, LIMITS.addrs) }))
    const sig = JSON.stringify(peers)
    if (peers.length === 0 || sig === ch.peersSent) return
    ch.peersSent = sig
    ch.send({ type: 'peers', peers })
  }

  sharePeersAll(e: TreeEntry): void {
    for (const c of e.channels) if (c.state === 'live') this.sharePeers(c)
  }

  /** Close a channel from this side: `refuse` tells the remote. */
  closeChannel(ch: Channel, code: ProtocolErrorCode, reason: string, tell: boolean): void {
    if (tell && !ch.link.conn.closed) ch.link.send({ type: 'refuse', channel: ch.id, code, reason })
    this.dropChannel(ch, `${code}: ${reason}`)
    this.closeIfIdle(ch.link)
  }

  dropChannel(ch: Channel, reason: string): void {
    const wasLive = ch.state === 'live'
    const wasSync = wasLive && ch.entry.isSyncChannel(ch)
    ch.link.forget(ch.id)
    ch.entry.channels.delete(ch)
    ch.resetAll()
    ch.entry.fetcher.channelClosed(ch)
    if (wasLive) this.h.emit({ type: 'peer-close', node: ch.remote, tree: ch.entry.id, reason })
    if (wasSync) {
      // Another connection to the same node takes over the sync.
      const next = ch.entry.syncChannels().find((c) => c.remote === ch.remote)
      if (next)
        this.h.guard(`sync hand-over to ${ch.remote.slice(0, 8)}`, () => startChannel(next, next.mine))
    }
  }

  /** A connection whose last channel closed (and that has no join in progress) is closed. */
  closeIfIdle(link: PeerLink): void {
    if (link.channels.size === 0 && link.joins.size === 0 && !link.joinAfterHello)
      link.conn.close('no tree open in common')
  }

  applyMembership(e: TreeEntry): void {
    for (const ch of [...e.channels]) {
      const role = e.r.membership.roleOf(ch.remote)
      if (!role) {
        this.closeChannel(ch, 'EFORBIDDEN', 'no longer a member of this tree', true)
        continue
      }
      if (role !== ch.remoteRole) {
        const readOnlyChanged = canWrite(role) !== canWrite(ch.remoteRole)
        ch.remoteRole = role
        if (readOnlyChanged && ch.state === 'live') {
          ch.resetAll()
          startChannel(ch, true)
          continue
        }
      }
      if (ch.state === 'live') {
        sendMembers(ch)
        this.sharePeers(ch)
      }
    }
    for (const link of this.h.links) this.openTree(link, e)
  }
}
