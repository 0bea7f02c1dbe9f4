/**
 * How far a node's transports may reach, chosen once by the composition
 * root (`BT_NETWORK`), and helpers the transports share.
 *
 * - `loopback`: tests and CI. Sockets bind to 127.0.0.1 / ::1 only; no
 *   relays, no discovery, no public DHT: no packet ever leaves the host.
 * - `lan`: bind all interfaces, still no relays, discovery services or
 *   public DHT (peers come from tickets, mDNS and given bootstraps).
 * - `internet`: the transports' public infrastructure (iroh relays and
 *   discovery; the public Hyperswarm DHT unless bootstraps are given).
 */
export type NetworkMode = 'loopback' | 'lan' | 'internet'

/** The mode named by `BT_NETWORK` (default `internet`); an unknown value throws. */
export function networkModeFrom(value: string | undefined): NetworkMode {
  if (value === undefined || value === '') return 'internet'
  if (value === 'loopback' || value === 'lan' || value === 'internet') return value
  throw new Error(`BT_NETWORK must be loopback, lan or internet (got ${JSON.stringify(value)})`)
}

const NODE_ID = /^[0-9a-f]{64}$/

/** True for a node id: 64 lower-case hex characters (an Ed25519 public key). */
export function isNodeId(s: string): boolean {
  return NODE_ID.test(s)
}

/** First line of an error's message (native bindings append backtraces). */
export function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  return msg.split('\n', 1)[0]!.trim() || 'unknown error'
}

/**
 * Parse `HOST:PORT` (`[v6]:PORT` for IPv6). Returns undefined for anything
 * else, including ports outside 1..65535.
 */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s)
  if (!m) return undefined
  const port = Number(m[3])
  if (port < 1 || port > 65535) return undefined
  return { host: (m[1] ?? m[2])!, port }
}
