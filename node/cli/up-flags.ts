/** The replication flags of `bt up`: parsed for the daemon, and passed on to a detached one. */
import {
  checkHostPort,
  parseSize,
  type ReplicationConfig,
  TRANSPORT_NAMES,
  type TransportName,
} from '../replication-config.js'
import { type FlagSpec, UsageError } from './args.js'
import type { Ctx } from './context.js'

export const UP_REPLICATION_FLAGS: FlagSpec[] = [
  {
    name: 'bootstrap',
    value: 'HOST:PORT',
    repeat: true,
    help: 'a Hyperswarm DHT bootstrap node (repeatable; replaces the default list)',
  },
  {
    name: 'cache-size',
    value: 'SIZE',
    help: 'chunks kept for trees read on demand before the least recently used go (default 10G)',
  },
  {
    name: 'transport',
    value: 'LIST',
    help: 'transports to run: iroh, hyperswarm or both (default iroh,hyperswarm)',
  },
  { name: 'port', value: 'PORT', help: 'UDP port for iroh (default: the last one used, else any free port)' },
  {
    name: 'mdns',
    value: 'on|off',
    help: 'find peers on the LAN with multicast DNS (default on; off with BT_NETWORK=loopback)',
  },
]

const usage = (m: string) => new UsageError(m, 'up')

/** The flags as a partial config (missing ones come from config.json and defaults). */
export function replicationFlags(ctx: Ctx): ReplicationConfig {
  const c: ReplicationConfig = {}
  const boot = ctx.values('bootstrap')
  if (boot.length) c.bootstrap = boot.flatMap((b) => b.split(',')).map((b) => checkHostPort(b.trim(), usage))
  const cache = ctx.value('cache-size')
  if (cache !== undefined) c.cacheSize = parseSize(cache, (m) => usage(`--cache-size: ${m}`))
  const tr = ctx.value('transport')
  if (tr !== undefined) {
    const list = tr.split(',').map((t) => t.trim())
    if (!list.length || !list.every((t) => TRANSPORT_NAMES.includes(t as TransportName)))
      throw usage(`--transport takes iroh, hyperswarm or iroh,hyperswarm, not '${tr}'`)
    c.transports = [...new Set(list)] as TransportName[]
  }
  const port = ctx.value('port')
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535)
      throw usage(`--port takes 0..65535, not '${port}'`)
    c.irohPort = Number(port)
  }
  const mdns = ctx.value('mdns')
  if (mdns !== undefined) {
    if (mdns !== 'on' && mdns !== 'off') throw usage(`--mdns takes on or off, not '${mdns}'`)
    c.mdns = mdns === 'on'
  }
  return c
}

/** The same flags as arguments for a detached `bt up`. */
export function replicationArgs(ctx: Ctx): string[] {
  const args: string[] = []
  for (const b of ctx.values('bootstrap')) args.push('--bootstrap', b)
  for (const f of ['cache-size', 'transport', 'port', 'mdns']) {
    const v = ctx.value(f)
    if (v !== undefined) args.push(`--${f}`, v)
  }
  // Validate before the child is started, so a typo is a usage error here, not a failed start.
  replicationFlags(ctx)
  return args
}
