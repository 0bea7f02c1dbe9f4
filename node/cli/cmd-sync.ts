/**
 * Commands about sharing trees: invite, join, tree members, tree
 * remove-member, peers, pin/unpin/pins, and the sync part of `bt status`
 * (with `--watch`).
 */
import type { NodeApi, TreeRole } from '../api-types.js'
import type { SyncStatusReport } from '../sync-api.js'
import { UsageError } from './args.js'
import type { Ctx } from './context.js'
import { humanSize, isoTime, table } from './format.js'
import { checkTreeArg, parseRemote } from './remote-path.js'

const ROLES: TreeRole[] = ['reader', 'writer', 'admin', 'server']
const DURATION_RE = /^([1-9][0-9]{0,8})(s|m|h|d|w)$/
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `90s`, `30m`, `12h`, `7d`, `2w` → ms; UsageError otherwise. */
export function parseDuration(text: string, flag: string): number {
  const m = DURATION_RE.exec(text)
  if (!m) throw new UsageError(`--${flag} takes a duration like 30m, 12h, 7d or 2w, not '${text}'`)
  return Number(m[1]) * UNIT_MS[m[2]!]!
}

function parseRole(text: string | undefined): TreeRole | undefined {
  if (text === undefined) return undefined
  if (!ROLES.includes(text as TreeRole))
    throw new UsageError(`--role is one of ${ROLES.join(', ')}, not '${text}'`)
  return text as TreeRole
}

export async function runInvite(ctx: Ctx): Promise<number> {
  const tree = ctx.positionals[0]!
  checkTreeArg(tree, ctx.cmd)
  const role = parseRole(ctx.value('role'))
  const expires = ctx.value('expires')
  const opts: { role?: TreeRole; expiresInMs?: number; addresses?: boolean } = {}
  if (role) opts.role = role
  if (ctx.flag('no-address')) opts.addresses = false
  if (expires !== undefined) opts.expiresInMs = parseDuration(expires, 'expires')
  const r = await (await ctx.api()).invite(tree, opts)
  if (!r.reachable)
    ctx.warn(
      tree,
      `no node is running for ${ctx.home}: start it (bt up --detach) before the ticket is used, it is redeemed by the running node`,
    )
  if (ctx.json) await ctx.outJson(r)
  else await ctx.out(r.ticket)
  return 0
}

export async function runJoin(ctx: Ctx): Promise<number> {
  const ticket = ctx.positionals[0]!.trim()
  const name = ctx.value('name')
  if (name !== undefined) checkTreeArg(name, ctx.cmd)
  const timeout = ctx.value('timeout')
  const opts: { name?: string; timeoutMs?: number } = {}
  if (name !== undefined) opts.name = name
  if (timeout !== undefined) opts.timeoutMs = parseDuration(timeout, 'timeout')
  const info = await (await ctx.api()).join(ticket, opts)
  if (ctx.json) await ctx.outJson(info)
  else await ctx.out(info.name)
  return 0
}

export async function runMembers(ctx: Ctx): Promise<number> {
  const tree = ctx.positionals[0]!
  checkTreeArg(tree, ctx.cmd)
  const list = await (await ctx.api()).members(tree)
  if (ctx.json) {
    await ctx.outJson(list)
    return 0
  }
  const rows = [
    ['NODE', 'ROLE', 'CONNECTED'],
    ...list.map((m) => [
      m.node + (m.self ? ' (this node)' : ''),
      m.role,
      m.self ? '-' : m.connected ? 'yes' : 'no',
    ]),
  ]
  for (const l of table(rows)) await ctx.out(l)
  return 0
}

export async function runRemoveMember(ctx: Ctx): Promise<number> {
  const [tree, nodeArg] = ctx.positionals as [string, string]
  checkTreeArg(tree, ctx.cmd)
  if (!/^[0-9a-f]{8,64}$/.test(nodeArg))
    throw new UsageError(`NODE is a node id (or a unique prefix of 8+ hex digits), not '${nodeArg}'`)
  const api = await ctx.api()
  let node = nodeArg
  if (nodeArg.length < 64) {
    const matches = (await api.members(tree)).filter((m) => m.node.startsWith(nodeArg))
    if (matches.length !== 1)
      throw new UsageError(
        matches.length === 0
          ? `no member of ${tree} has an id starting with ${nodeArg} (see bt tree members ${tree})`
          : `${nodeArg} matches ${matches.length} members of ${tree}: give more digits`,
      )
    node = matches[0]!.node
  }
  await api.removeMember(tree, node)
  ctx.note(`removed ${node} from ${tree}`)
  return 0
}

export async function runPeers(ctx: Ctx): Promise<number> {
  const peers = await (await ctx.api()).peers()
  if (ctx.json) {
    await ctx.outJson({ peers })
    return 0
  }
  if (peers.length === 0) {
    ctx.note('no peers connected')
    return 0
  }
  const rows = [
    ['NODE', 'TRANSPORT', 'TREES', 'RTT', 'IN', 'OUT', 'SINCE'],
    ...peers.map((p) => [
      p.node.slice(0, 16),
      p.transports.join(','),
      p.trees.map((t) => `${t.tree}(${t.role})`).join(',') || '-',
      p.rttMs === undefined ? '-' : `${p.rttMs.toFixed(1)} ms`,
      humanSize(p.bytesIn),
      humanSize(p.bytesOut),
      isoTime(p.since),
    ]),
  ]
  for (const l of table(rows)) await ctx.out(l)
  return 0
}

async function pinCommon(ctx: Ctx, pin: boolean): Promise<number> {
  const r = parseRemote(ctx.positionals[0]!, ctx.cmd, { bareTree: true })
  ctx.remote = r
  const api = await ctx.api()
  const changed = pin ? await api.pin(r.tree, r.path) : await api.unpin(r.tree, r.path)
  if (ctx.json) await ctx.outJson({ tree: r.tree, path: r.path, changed })
  else if (!changed) ctx.note(`${r.tree}:${r.path} was ${pin ? 'already' : 'not'} pinned`)
  return 0
}

export const runPin = (ctx: Ctx) => pinCommon(ctx, true)
export const runUnpin = (ctx: Ctx) => pinCommon(ctx, false)

export async function runPins(ctx: Ctx): Promise<number> {
  const tree = ctx.positionals[0]!
  checkTreeArg(tree, ctx.cmd)
  const list = await (await ctx.api()).pins(tree)
  if (ctx.json) await ctx.outJson(list)
  else for (const p of list) await ctx.out(`${tree}:${p.path}`)
  return 0
}

/** The sync lines of `bt status` (one per tree). */
export function syncLines(s: SyncStatusReport): string[] {
  if (s.trees.length === 0) return []
  const rows = [
    ['TREE', 'ROLE', 'STATE', 'PEERS', 'CHUNKS WANTED', 'RECEIVED', 'IN/s', 'OUT/s'],
    ...s.trees.map((t) => [
      t.name,
      `${t.role}${t.policy === 'demand' ? ' (on demand)' : ''}`,
      t.state,
      String(t.peers),
      String(t.chunksWanted),
      String(t.chunksReceived),
      humanSize(Math.round(t.rateIn)),
      humanSize(Math.round(t.rateOut)),
    ]),
  ]
  return table(rows, [3, 4, 5])
}

/** `bt status --watch`: redraw every second on a TTY (plain lines otherwise) until Ctrl-C. */
export async function watchStatus(
  ctx: Ctx,
  render: (api: NodeApi) => Promise<string[]>,
  tty: boolean,
  stop: AbortSignal,
): Promise<number> {
  while (!stop.aborted) {
    let lines: string[]
    try {
      const api = await ctx.api()
      lines = await render(api)
      // Without a daemon the data dir is opened per redraw, so other bt commands are not locked out
      // (and a node started meanwhile is picked up).
      if ((api as { remote?: boolean }).remote !== true) await ctx.close()
    } catch (e) {
      // A node stopping or a data dir busy for a moment is shown, not fatal: watching goes on.
      await ctx.close().catch(() => {})
      lines = [`(cannot read the node's status now: ${(e as Error).message})`]
    }
    if (tty) await ctx.write(`\x1b[H\x1b[2J${lines.join('\n')}\n`)
    else await ctx.write(`${isoTime(ctx.io.now())}\n${lines.join('\n')}\n\n`)
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 1000)
      function done() {
        clearTimeout(t)
        stop.removeEventListener('abort', done)
        resolve()
      }
      stop.addEventListener('abort', done)
    })
  }
  return 0
}
