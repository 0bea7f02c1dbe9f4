/**
 * The sync engine: runs docs/PROTOCOL.md on the connections it is given.
 *
 * Per connection (a `PeerLink`): hello both ways, then one channel per tree
 * both sides replicate and the remote may see (membership of the
 * authenticated remote id), membership exchange, the per-shard Automerge
 * sync (shard-sync.ts), chunk want/chunk/nochunk (chunk-fetcher.ts and the
 * serving queue here). Local commits and changes received from one peer are
 * pushed to every other open channel on a coalesced 0-ms timer;
 * anti-entropy runs every `antiEntropyMs` per tree with one random peer.
 *
 * Every frame handler is synchronous and total: a malformed or
 * out-of-order frame sends `error` with a code and closes that connection
 * (counted in stats().rejected, reported as a 'rejected' event); nothing
 * escapes to the transport. Time, timers and randomness come from the
 * injected Runtime only, and Maps are walked in insertion order, so a
 * simulated run replays exactly.
 */
import type { ChunkId } from '../../store/types.js'
import { TreeError } from '../errors.js'
import { shardOf } from '../names.js'
import type { Runtime } from '../runtime.js'
import type { Connection } from '../transport/types.js'
import { ROOT_ID } from '../types.js'
import { decodeMessage } from '../wire/codec.js'
import {
  LIMITS,
  type Message,
  PROTOCOL_VERSION,
  ProtocolError,
  type ProtocolErrorCode,
} from '../wire/messages.js'
import type { Channel } from './channel.js'
import { Channels } from './channels.js'
import { ChunkFetcher } from './chunk-fetcher.js'
import { serveWant, tellHave } from './chunk-server.js'
import { type JoinHooks, joinRequest, onJoin, onWelcome } from './join.js'
import { PeerLink } from './peer-link.js'
import { antiEntropy, flush, markDirty, onShards, onSync, SyncRefused } from './shard-sync.js'
import { engineStatus, peerInfos } from './status.js'
import { TreeEntry } from './tree-entry.js'
import type {
  EngineEvent,
  EngineStats,
  JoinResult,
  PeerInfo,
  ReplicaTree,
  SyncEngine,
  SyncEngineOptions,
  TreeSyncStatus,
} from './types.js'

/** Oldest protocol version this engine speaks. */
export const MIN_PROTOCOL_VERSION = 1
const DEFAULT_ANTI_ENTROPY_MS = 30_000
const DEFAULT_FETCH_TIMEOUT_MS = 20_000

export class Engine implements SyncEngine {
  readonly nodeId: string
  private readonly runtime: Runtime
  private readonly trees = new Map<string, TreeEntry>()
  private readonly links = new Set<PeerLink>()
  private readonly listeners = new Set<(e: EngineEvent) => void>()
  private readonly counters = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }
  private readonly rejected: Record<string, number> = {}
  private readonly antiEntropyMs: number
  private readonly fetchTimeoutMs: number
  private readonly chunkTimeoutMs: number
  private closed = false
  private readonly channels: Channels

  constructor(private readonly opts: SyncEngineOptions) {
    this.nodeId = opts.nodeId
    this.runtime = opts.runtime
    this.antiEntropyMs = opts.antiEntropyMs ?? DEFAULT_ANTI_ENTROPY_MS
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
    this.chunkTimeoutMs = opts.chunkTimeoutMs ?? Math.max(1, Math.floor(this.fetchTimeoutMs / 2))
    this.channels = new Channels({
      nodeId: this.nodeId,
      trees: this.trees,
      links: this.links,
      knownPeers: opts.knownPeers,
      emit: (e) => this.emit(e),
      count: (n, c, r) => this.count(n, c, r),
      guard: (w, fn) => this.guard(w, fn),
    })
  }

  // ---- trees ----

  addTree(t: ReplicaTree): void {
    if (this.closed) throw new Error('sync engine is closed')
    if (this.trees.has(t.id)) throw new Error(`tree ${t.id} is already replicated`)
    const e = new TreeEntry(t, this.runtime)
    e.fetcher = new ChunkFetcher(
      e,
      this.runtime,
      { chunkTimeoutMs: this.chunkTimeoutMs, fetchTimeoutMs: this.fetchTimeoutMs },
      {
        emit: (ev) => this.emit(ev),
        stored: (id) => tellHave(e, id),
        reject: (n, c, r) => this.count(n, c, r),
        log: (l) => this.log(l),
      },
    )
    e.requestFlush = () => this.scheduleFlush(e)
    this.trees.set(t.id, e)
    e.unsubscribe.push(t.tree.onChange((c) => this.treeChanged(e, c.inodes, c.remote)))
    e.unsubscribe.push(t.membership.onChange(() => this.membershipChanged(e)))
    this.scheduleAntiEntropy(e)
    for (const link of this.links) if (link.helloDone) this.channels.openTree(link, e)
  }

  removeTree(id: string): void {
    const e = this.trees.get(id)
    if (!e) return
    this.trees.delete(id)
    for (const ch of [...e.channels]) this.channels.closeChannel(ch, 'ENOTREE', 'tree removed', true)
    this.dropEntry(e)
  }

  // ---- connections ----

  attach(conn: Connection): void {
    this.attachLink(conn)
  }

  join(conn: Connection, invite: { tree: string; invite: string; secret: Uint8Array }): Promise<JoinResult> {
    return new Promise<JoinResult>((resolve, reject) => {
      // A connection already attached (the inviter is a peer for another tree) carries the join too.
      const link = [...this.links].find((l) => l.conn === conn) ?? this.attachLink(conn)
      if (!link) {
        reject(new Error('sync engine is closed'))
        return
      }
      const timer = this.runtime.timers.setTimeout(() => {
        pending.reject(new ProtocolError('EINVITE', 'no answer to the join request'))
        conn.close('join timed out')
      }, this.fetchTimeoutMs)
      const pending = {
        channel: -1,
        ...invite,
        resolve: (m: Extract<Message, { type: 'welcome' }>) => {
          timer.cancel()
          resolve({ tree: invite.tree, name: m.name, role: m.role, key: m.key, members: m.members })
        },
        reject: (err: Error) => {
          timer.cancel()
          reject(err)
        },
      }
      if (link.helloDone) joinRequest(link, pending, this.nodeId)
      else link.joinAfterHello = pending
    })
  }

  disconnect(node: string, reason: string): void {
    for (const link of [...this.links]) if (link.remote === node) link.conn.close(reason)
  }

  fetchChunk(tree: string, id: ChunkId): Promise<Uint8Array | undefined> {
    const e = this.trees.get(tree)
    return e ? e.fetcher.demand(id) : Promise.resolve(undefined)
  }

  // ---- status ----

  peers(): PeerInfo[] {
    return peerInfos(this.links)
  }

  status(tree: string): TreeSyncStatus {
    const e = this.trees.get(tree)
    if (!e) throw new Error(`tree ${tree} is not replicated`)
    return engineStatus(e)
  }

  stats(): EngineStats {
    return { ...this.counters, rejected: { ...this.rejected } }
  }

  /** Chunk ids this engine asked peers for, per tree (tests of resumption). */
  idsAsked(tree: string): number {
    return this.trees.get(tree)?.fetcher.idsAsked ?? 0
  }

  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const link of [...this.links]) link.conn.close('node shutting down')
    for (const e of [...this.trees.values()]) this.dropEntry(e)
    this.trees.clear()
  }

  // ---- link lifecycle ----

  private attachLink(conn: Connection): PeerLink | undefined {
    if (this.closed) {
      conn.close('node shutting down')
      return undefined
    }
    const link = new PeerLink(conn, this.nodeId, this.runtime, this.counters)
    this.links.add(link)
    conn.onFrame((frame) => this.onFrame(link, frame))
    conn.onClose((info) => this.linkClosed(link, info.reason))
    link.send({
      type: 'hello',
      version: PROTOCOL_VERSION,
      minVersion: MIN_PROTOCOL_VERSION,
      agent: this.agent(),
    })
    return link
  }

  private agent(): string {
    return (this.opts.agent ?? 'blocktree').slice(0, LIMITS.text)
  }

  private linkClosed(link: PeerLink, reason: string): void {
    if (!this.links.delete(link)) return
    for (const ch of [...link.channels.values()]) this.channels.dropChannel(ch, reason)
    for (const j of link.joins.values()) j.reject(new Error(`connection closed: ${reason}`))
    link.joins.clear()
    link.joinAfterHello?.reject(new Error(`connection closed: ${reason}`))
    link.joinAfterHello = undefined
    this.emit({ type: 'peer-close', node: link.remote, reason })
  }

  /** A protocol violation by the remote: count it, tell it why, close the connection. */
  private fail(link: PeerLink, code: ProtocolErrorCode, reason: string): void {
    if (link.conn.closed) return
    this.count(link.remote, code, reason)
    link.send({ type: 'error', code, reason })
    link.conn.close(`${code}: ${reason}`)
  }

  private count(node: string, code: ProtocolErrorCode, reason: string): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + 1
    this.log(`rejected ${node.slice(0, 8)}: ${code} ${reason}`)
    this.emit({ type: 'rejected', node, code, reason })
  }

  // ---- frames ----

  private onFrame(link: PeerLink, frame: Uint8Array): void {
    if (link.conn.closed || !this.links.has(link)) return
    link.received(frame.length)
    let m: Message
    try {
      m = decodeMessage(frame)
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : 'EMALFORMED'
      this.fail(link, code, e instanceof ProtocolError ? e.message.replace(/^\w+: /, '') : String(e))
      return
    }
    try {
      this.dispatch(link, m, frame.length)
    } catch (e) {
      if (e instanceof ProtocolError) this.fail(link, e.code, e.message.replace(/^\w+: /, ''))
      else if (e instanceof TreeError && e.code === 'EINVAL') this.fail(link, 'EMALFORMED', e.message)
      else {
        this.log(`internal error on a frame from ${link.remote.slice(0, 8)}: ${(e as Error).stack ?? e}`)
        this.fail(link, 'EINTERNAL', (e as Error).message ?? String(e))
      }
    }
  }

  private dispatch(link: PeerLink, m: Message, bytes: number): void {
    if (!link.helloDone) {
      if (m.type !== 'hello') throw new ProtocolError('EORDER', `${m.type} before hello`)
      this.onHello(link, m)
      return
    }
    switch (m.type) {
      case 'hello':
        throw new ProtocolError('EORDER', 'second hello')
      case 'ping':
        link.send({ type: 'pong', nonce: m.nonce })
        return
      case 'pong':
        link.pong(m.nonce)
        return
      case 'error':
        link.conn.close(`remote error ${m.code}: ${m.reason}`)
        return
      case 'open':
        this.channels.onOpen(link, m.channel, m.tree, m.members)
        return
      case 'join':
        this.channels.checkNewChannel(link, m.channel)
        onJoin(link, m, this.joinHooks())
        return
      case 'welcome':
        onWelcome(link, m)
        return
    }
    const ch = link.channels.get(m.channel)
    if (!ch) {
      if (link.closedIds.has(m.channel)) return // crossed our refuse or close: ignored
      if (m.type === 'refuse' && link.joins.has(m.channel)) {
        const j = link.joins.get(m.channel)!
        link.joins.delete(m.channel)
        link.forget(m.channel)
        j.reject(new ProtocolError(m.code, m.reason))
        return
      }
      throw new ProtocolError('EORDER', `${m.type} on channel ${m.channel}, which is not open`)
    }
    if (m.type === 'refuse') {
      this.channels.dropChannel(ch, `refused: ${m.code} ${m.reason}`)
      if (m.code !== 'ENOTREE') this.channels.closeIfIdle(link)
      return
    }
    if (m.type === 'accept') {
      if (!ch.mine || ch.state !== 'pending') throw new ProtocolError('EORDER', `accept on channel ${ch.id}`)
      ch.myRole = m.role
      this.channels.goLive(ch)
      return
    }
    if (ch.state !== 'live') throw new ProtocolError('EORDER', `${m.type} on pending channel ${ch.id}`)
    ch.entry.received(bytes)
    this.onChannelMessage(ch, m)
  }

  private onHello(link: PeerLink, m: Extract<Message, { type: 'hello' }>): void {
    const version = Math.min(PROTOCOL_VERSION, m.version)
    if (version < Math.max(MIN_PROTOCOL_VERSION, m.minVersion)) {
      throw new ProtocolError(
        'EVERSION',
        `no common version: we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}, the peer ${m.minVersion}..${m.version}`,
      )
    }
    link.helloDone = true
    link.version = version
    link.agent = m.agent
    link.ping()
    for (const e of this.trees.values()) this.channels.openTree(link, e)
    const j = link.joinAfterHello
    link.joinAfterHello = undefined
    if (j) joinRequest(link, j, this.nodeId)
  }

  private onChannelMessage(ch: Channel, m: Message): void {
    const e = ch.entry
    switch (m.type) {
      case 'members': {
        e.r.membership.merge(m.entries)
        return
      }
      case 'shards':
        onShards(ch, m.shards)
        return
      case 'sync':
        try {
          onSync(ch, m.shard, m.data)
        } catch (err) {
          if (!(err instanceof SyncRefused)) throw err
          this.count(ch.remote, 'EFORBIDDEN', err.message)
          this.channels.closeChannel(ch, 'EFORBIDDEN', err.message, true)
        }
        return
      case 'want':
        serveWant(ch, m.ids)
        return
      case 'chunk':
        e.fetcher.onChunk(ch, m.id, m.data)
        return
      case 'nochunk':
        e.fetcher.onNochunk(ch, m.ids)
        return
      case 'have':
        e.fetcher.onHave(ch, m.ids)
        return
      case 'peers':
        this.emit({ type: 'addresses', tree: e.id, peers: m.peers })
        // What the node learned may be news for the tree's other peers (sent only when it changed).
        this.channels.sharePeersAll(e)
        return
      default:
        throw new ProtocolError('EORDER', `${m.type} on a channel`)
    }
  }

  // ---- changes ----

  private treeChanged(e: TreeEntry, inodes: string[], remote: boolean): void {
    if (remote) {
      const from = e.applyingFrom
      if (from !== undefined) this.emit({ type: 'remote-change', tree: e.id, from, inodes: inodes.length })
      e.fetcher.remoteChange(inodes)
      return
    }
    for (const ino of inodes) {
      const s = ino === ROOT_ID ? 0 : shardOf(ino)
      if (s !== undefined) markDirty(e, s)
    }
  }

  private scheduleFlush(e: TreeEntry): void {
    if (e.flushTimer) return
    e.flushTimer = this.runtime.timers.setTimeout(() => {
      e.flushTimer = undefined
      if (this.trees.get(e.id) !== e) return
      this.guard(`gossip of tree ${e.id}`, () => flush(e))
    }, 0)
  }

  private membershipChanged(e: TreeEntry): void {
    if (e.membersTimer) return
    // Coalesced and outside the caller: merge() may be running inside our frame handler.
    e.membersTimer = this.runtime.timers.setTimeout(() => {
      e.membersTimer = undefined
      if (this.trees.get(e.id) !== e) return
      this.guard(`membership of tree ${e.id}`, () => this.channels.applyMembership(e))
    }, 0)
  }

  private scheduleAntiEntropy(e: TreeEntry): void {
    e.antiEntropyTimer = this.runtime.timers.setTimeout(() => {
      e.antiEntropyTimer = undefined
      if (this.trees.get(e.id) !== e || this.closed) return
      this.guard(`anti-entropy of tree ${e.id}`, () => {
        const live = e.syncChannels()
        if (live.length > 0) {
          const r = this.runtime.random.bytes(4)
          const pick = ((r[0]! | (r[1]! << 8) | (r[2]! << 16) | (r[3]! << 24)) >>> 0) % live.length
          const ch = live[pick]!
          antiEntropy(ch)
          this.channels.sharePeers(ch)
        }
        // A member refused earlier (the peer did not know it yet) gets another try.
        for (const link of this.links) this.channels.openTree(link, e)
        e.fetcher.tick()
      })
      this.scheduleAntiEntropy(e)
    }, this.antiEntropyMs)
  }

  // ---- helpers ----

  private joinHooks(): JoinHooks {
    return {
      trees: this.trees,
      invites: this.opts.invites,
      count: (n, c, r) => this.count(n, c, r),
    }
  }

  private dropEntry(e: TreeEntry): void {
    for (const u of e.unsubscribe.splice(0)) u()
    e.flushTimer?.cancel()
    e.membersTimer?.cancel()
    e.antiEntropyTimer?.cancel()
    e.fetcher.close()
  }

  /** Run timer work; an exception there is logged, never thrown into the runtime. */
  private guard(what: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.log(`${what} failed: ${(err as Error).stack ?? err}`)
    }
  }

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch (err) {
        this.log(`event listener failed: ${(err as Error).message}`)
      }
    }
  }

  private log(line: string): void {
    this.opts.log?.(line)
  }
}

/** A sync engine for this node (see `Engine`). */
export function createSyncEngine(opts: SyncEngineOptions): Engine {
  return new Engine(opts)
}
