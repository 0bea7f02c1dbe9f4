/**
 * LAN discovery over multicast DNS (`multicast-dns`): each node announces
 * `_blocktree._udp.local` with a TXT record holding its node id and dial
 * hints, answers queries for it, and reports the announcements of others.
 * What it learns is only a hint: connections are still authenticated by
 * the transport and refused to non-members by the protocol, so a forged
 * announcement costs at most a failed dial.
 *
 * Records (names are DNS-SD style):
 * - PTR `_blocktree._udp.local` -> `<first 32 hex of id>._blocktree._udp.local`
 * - TXT `<instance>._blocktree._udp.local`: `v=1`, `id=<64 hex>`, one `a=<hint>` per address.
 *
 * Off under BT_NETWORK=loopback unless explicitly enabled (tests enable it
 * inside network namespaces they create; never on real interfaces).
 */
import mdns from 'multicast-dns'
import type { Timers } from '../runtime.js'
import { isNodeId, type NetworkMode } from '../transport/network.js'
import type { PeerAddress } from '../transport/types.js'

export const SERVICE = '_blocktree._udp.local'
/** Hints kept per announcement (more are ignored). */
export const MAX_HINTS = 16
const MAX_HINT_LENGTH = 200
const TTL_S = 120

/** Whether mDNS runs: never by default under loopback; `explicit` overrides either way. */
export function mdnsEnabled(network: NetworkMode, explicit?: boolean): boolean {
  return explicit ?? network !== 'loopback'
}

/** The DNS records announcing `node` with `addrs`. */
export function announcement(node: string, addrs: readonly string[]): mdns.ResponsePacket {
  if (!isNodeId(node)) throw new Error(`mdns: not a node id: ${node}`)
  const instance = `${node.slice(0, 32)}.${SERVICE}`
  const txt = ['v=1', `id=${node}`, ...addrs.slice(0, MAX_HINTS).map((a) => `a=${a}`)]
  return {
    answers: [{ name: SERVICE, type: 'PTR', ttl: TTL_S, data: instance }],
    additionals: [{ name: instance, type: 'TXT', ttl: TTL_S, data: txt.map((s) => Buffer.from(s)) }],
  }
}

/**
 * The peers a received response announces (other than `self`). Every field
 * is checked; malformed records are skipped. A hint whose host is the
 * unspecified address takes the sender's address (`from`).
 */
export function peersFromResponse(
  packet: Pick<mdns.ResponsePacket, 'answers' | 'additionals'>,
  from: string,
  self: string,
): PeerAddress[] {
  const out: PeerAddress[] = []
  for (const rec of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
    if (rec.type !== 'TXT' || typeof rec.name !== 'string' || !rec.name.endsWith(`.${SERVICE}`)) continue
    const strings = (Array.isArray(rec.data) ? rec.data : [rec.data]).map((d) =>
      typeof d === 'string' ? d : Buffer.isBuffer(d) ? d.toString('utf8') : '',
    )
    if (!strings.includes('v=1')) continue
    const ids = strings.filter((s) => s.startsWith('id=')).map((s) => s.slice(3))
    if (ids.length !== 1 || !isNodeId(ids[0]!) || ids[0] === self) continue
    if (rec.name !== `${ids[0]!.slice(0, 32)}.${SERVICE}`) continue
    const addrs: string[] = []
    for (const s of strings) {
      if (!s.startsWith('a=') || addrs.length >= MAX_HINTS) continue
      const a = s.slice(2)
      if (a.length === 0 || a.length > MAX_HINT_LENGTH || !/^[\x21-\x7e]+$/.test(a)) continue
      addrs.push(
        a.replace(/^(\w+):(0\.0\.0\.0|\[::\]):/, (_m, scheme: string) => `${scheme}:${hostOf(from)}:`),
      )
    }
    if (!out.some((p) => p.node === ids[0])) out.push({ node: ids[0]!, addrs })
  }
  return out
}

function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

export interface MdnsOptions {
  nodeId: string
  /** Our dial hints now (asked at every announcement). */
  addresses: () => string[]
  /** A peer announced itself (called on every announcement seen, for last-seen). */
  onPeer: (peer: PeerAddress) => void
  timers: Timers
  /** Announce and query this often (default 30 s; also once at start). */
  intervalMs?: number
  /** IPv4 address of the interface to use (default: the system's choice). */
  interface?: string
  log?: (line: string) => void
}

/** A running mDNS announcer/browser. */
export interface MdnsDiscovery {
  /** Announce and query now (e.g. after our addresses changed). */
  refresh(): void
  close(): Promise<void>
}

/** Start announcing and browsing. Resolves once the socket is bound. */
export async function startMdns(o: MdnsOptions): Promise<MdnsDiscovery> {
  const log = o.log ?? (() => {})
  const m = mdns({ ...(o.interface ? { interface: o.interface, bind: '0.0.0.0' } : {}) })
  await new Promise<void>((resolve, reject) => {
    m.once('ready', resolve)
    m.once('error', reject)
  })
  m.on('error', (e: Error) => log(`mdns: ${e.message}`))
  m.on('warning', (e: Error) => log(`mdns: ${e.message}`))
  const announce = () => {
    try {
      m.respond(announcement(o.nodeId, o.addresses()))
    } catch (e) {
      log(`mdns: announce failed: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  m.on('query', (q) => {
    if (q.questions.some((x) => x.name === SERVICE && (x.type === 'PTR' || x.type === 'ANY'))) announce()
  })
  m.on('response', (r, rinfo) => {
    for (const p of peersFromResponse(r, rinfo.address, o.nodeId)) {
      try {
        o.onPeer(p)
      } catch (e) {
        log(`mdns: peer listener failed: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  })
  let closed = false
  let timer: { cancel(): void } | undefined
  const round = () => {
    if (closed) return
    announce()
    m.query({ questions: [{ name: SERVICE, type: 'PTR' }] })
  }
  const loop = () => {
    round()
    timer = o.timers.setTimeout(loop, o.intervalMs ?? 30_000)
  }
  loop()
  return {
    refresh: round,
    close: async () => {
      if (closed) return
      closed = true
      timer?.cancel()
      await new Promise<void>((resolve) => m.destroy(() => resolve()))
    },
  }
}
