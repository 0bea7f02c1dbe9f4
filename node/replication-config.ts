/**
 * What configures replication in a daemon: `bt up` flags, `<home>/config.json`
 * and the environment (BT_NETWORK). Flags win over the config file, which
 * wins over defaults. docs/NODE.md lists every setting.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type NetworkMode, networkModeFrom } from '../sync/transport/network.js'
import { NodeError } from './node-error.js'

export type TransportName = 'iroh' | 'hyperswarm'
export const TRANSPORT_NAMES: readonly TransportName[] = ['iroh', 'hyperswarm']

export interface ReplicationConfig {
  /** Hyperswarm DHT bootstrap nodes (HOST:PORT). None with BT_NETWORK=loopback unless given. */
  bootstrap?: string[]
  /** Bytes of chunks kept for trees replicated on demand before the least recently used are evicted. */
  cacheSize?: number
  /** Transports to run (default both). */
  transports?: TransportName[]
  /** UDP port for iroh (default: the last one used, else any free port). */
  irohPort?: number
  /** BT_NETWORK: 'loopback' binds and advertises 127.0.0.1 only, no relays, no public DHT. */
  network?: NetworkMode
  /** LAN discovery over multicast DNS (default: on, except with BT_NETWORK=loopback). */
  mdns?: boolean
}

/** The config file in the data dir (optional). */
export const CONFIG_FILE = 'config.json'

const HOSTPORT_RE = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/
const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)$/i
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }

/** Check a HOST:PORT; returns it or throws `fail(message)`. */
export function checkHostPort(text: string, fail: (m: string) => Error): string {
  const m = HOSTPORT_RE.exec(text)
  const port = m ? Number(m[2]) : 0
  if (!m || port < 1 || port > 65535) throw fail(`--bootstrap takes HOST:PORT, not '${text}'`)
  return text
}

/** `10G`, `512MiB`, `1.5g`, `4096` → bytes. */
export function parseSize(text: string, fail: (m: string) => Error): number {
  const m = SIZE_RE.exec(text.trim())
  if (!m) throw fail(`a size is a number with an optional unit (K, M, G, T), not '${text}'`)
  const unit = SIZE_UNITS[m[2]!.toLowerCase()[0] ?? ''] ?? 1
  return Math.floor(Number(m[1]) * unit)
}

/** Read `<home>/config.json` (absent: empty). A malformed file is NodeError ECORRUPT naming the problem. */
export function readConfigFile(home: string): ReplicationConfig {
  const file = join(home, CONFIG_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new NodeError('ECORRUPT', file, (e as Error).message)
  }
  const bad = (m: string) => new NodeError('ECORRUPT', file, m)
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw bad('not valid JSON')
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('expected a JSON object')
  const c: ReplicationConfig = {}
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'bootstrap') {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
        throw bad('bootstrap: a list of HOST:PORT')
      c.bootstrap = v.map((x) => checkHostPort(x, bad))
    } else if (k === 'cacheSize') {
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) c.cacheSize = v
      else if (typeof v === 'string') c.cacheSize = parseSize(v, bad)
      else throw bad('cacheSize: bytes, or a size like "10G"')
    } else if (k === 'transports') {
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => TRANSPORT_NAMES.includes(x)))
        throw bad(`transports: a non-empty list of ${TRANSPORT_NAMES.join(', ')}`)
      c.transports = v as TransportName[]
    } else if (k === 'irohPort') {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 65535) throw bad('irohPort: 0..65535')
      c.irohPort = v as number
    } else if (k === 'mdns') {
      if (typeof v !== 'boolean') throw bad('mdns: true or false')
      c.mdns = v
    } else throw bad(`unknown setting '${k}'`)
  }
  return c
}

/** Flags over file over environment. */
export function mergeConfig(
  flags: ReplicationConfig,
  file: ReplicationConfig,
  env: NodeJS.ProcessEnv,
): ReplicationConfig & { network: NetworkMode } {
  let network: NetworkMode
  try {
    network = flags.network ?? networkModeFrom(env.BT_NETWORK)
  } catch (e) {
    throw new NodeError('EBADNAME', 'BT_NETWORK', (e as Error).message)
  }
  return { ...file, ...flags, network }
}
