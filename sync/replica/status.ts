/** What `bt status` and `bt peers` show of the engine: per-tree sync state and per-peer connections. */
import { exportSyncState } from '../automerge.js'
import { sameHeads } from '../replication.js'
import type { PeerLink } from './peer-link.js'
import type { TreeEntry } from './tree-entry.js'
import type { PeerInfo, TreeSyncStatus } from './types.js'

/** Sync status of one tree. 'synced': every live peer's last heads equal ours on every shard, no chunk wanted. */
export function engineStatus(e: TreeEntry): TreeSyncStatus {
  const live = e.live()
  const peers = new Set(live.map((c) => c.remote)).size
  let state: TreeSyncStatus['state'] = peers === 0 ? 'offline' : 'synced'
  if (state === 'synced') {
    const tree = e.r.tree
    if (e.fetcher.wanted > 0) state = 'syncing'
    for (const ch of e.syncChannels()) {
      if (state !== 'synced') break
      const shards = new Set([...tree.shardIds(), ...ch.remoteShards])
      for (const s of shards) {
        const theirs = exportSyncState(ch.syncState(s)).theirHeads
        if (!theirs || !sameHeads(theirs, tree.headsOf(s))) {
          state = 'syncing'
          break
        }
      }
    }
  }
  const out: TreeSyncStatus = {
    tree: e.id,
    peers,
    state,
    chunksWanted: e.fetcher.wanted,
    chunksReceived: e.chunksReceived,
    bytesIn: e.bytesIn,
    bytesOut: e.bytesOut,
    rateIn: e.rateIn.rate(),
    rateOut: e.rateOut.rate(),
  }
  if (e.lastActivity !== undefined) out.lastActivity = e.lastActivity
  return out
}

/** Connected peers (after hello), their connections and the trees open with each. */
export function peerInfos(links: Iterable<PeerLink>): PeerInfo[] {
  const byNode = new Map<string, PeerInfo>()
  for (const link of links) {
    if (!link.helloDone || link.conn.closed) continue
    let p = byNode.get(link.remote)
    if (!p) {
      p = { node: link.remote, connections: [], trees: [] }
      byNode.set(link.remote, p)
    }
    p.connections.push({
      transport: link.conn.transport,
      initiator: link.conn.initiator,
      since: link.since,
      ...(link.rttMs === undefined ? {} : { rttMs: link.rttMs }),
      bytesIn: link.bytesIn,
      bytesOut: link.bytesOut,
    })
    for (const ch of link.channels.values()) {
      if (ch.state !== 'live' || p.trees.some((t) => t.tree === ch.entry.id)) continue
      p.trees.push({ tree: ch.entry.id, role: ch.remoteRole })
    }
  }
  return [...byNode.values()]
}
