/**
 * One simulated run: build the swarm from the seed, drive the workload with
 * partitions, crashes, bursts and late joins on virtual time, heal
 * everything, wait for the swarm to go quiet, and check the invariants.
 */
import { performance } from 'node:perf_hooks'
import { MemberLog, MemoryMemberLogStore } from '../sync/membership.js'
import type { InviteBook } from '../sync/replica/types.js'
import { signerFromSeed } from '../sync/wire/ed25519.js'
import type { Role } from '../sync/wire/messages.js'
import { verifyJoinProof } from '../sync/wire/ticket.js'
import { finalChecks, headsKey, knows, missingChunks, spotCheck, type Violation } from './invariants.js'
import { Departures } from './leave.js'
import { WriteLedger } from './ledger.js'
import { LinkNetwork } from './links.js'
import { SimNet } from './net.js'
import { SimNode, type SimTree } from './node.js'
import { reproduceCommand, type SimOptions } from './options.js'
import { Rng } from './rng.js'
import { Scheduler } from './scheduler.js'
import { type OpCounters, Workload } from './workload.js'

export interface TimelineEvent {
  /** Virtual ms since the start. */
  at: number
  kind:
    | 'crash'
    | 'restart'
    | 'partition'
    | 'heal'
    | 'isolate'
    | 'reconnect'
    | 'join'
    | 'leave'
    | 'workload-end'
    | 'converged'
  node?: number
  /** Partitions: node indexes per side. */
  groups?: number[][]
}

export interface SimResult {
  seed: number
  command: string
  traceHash: string
  converged: boolean
  violations: Violation[]
  ops: OpCounters
  messages: {
    frames: number
    frameBytes: number
    datagrams: number
    datagramBytes: number
    dropped: number
    duplicated: number
    reordered: number
    retransmits: number
    dials: number
    timeouts: number
    resets: number
  }
  events: number
  virtualMs: number
  wallMs: number
  /** Virtual ms from the final heal to a quiet, converged swarm (null: it never got there). */
  convergeMs: number | null
  timeline: TimelineEvent[]
  /** Bytes on the wire per bucket of `bucketMs` virtual ms. */
  volume: number[]
  bucketMs: number
  nodes: { index: number; id: string; role: string; incarnations: number; lastChangeMs: number }[]
  heapMB: number
}

/** Run one simulation. Never throws for what the swarm does: that becomes a violation. */
export async function runSim(o: SimOptions): Promise<SimResult> {
  const wall0 = performance.now()
  const sched = new Scheduler()
  const control = new Rng(o.seed, 'control')
  const links = new LinkNetwork(sched, new Rng(o.seed, 'net'), {
    latencyMin: o.latency[0],
    latencyMax: o.latency[1],
    bandwidth: o.bandwidth,
    loss: o.loss,
    dup: o.dup,
    reorder: o.reorder,
  })
  const net = new SimNet(sched, links)
  const violations: Violation[] = []
  const timeline: TimelineEvent[] = []
  const mark = (e: Omit<TimelineEvent, 'at'>) => timeline.push({ at: sched.elapsed(), ...e })
  const violation = (kind: string, detail: string) => violations.push({ kind, detail, at: sched.elapsed() })

  // Identities, the tree, roles. Node 0 creates the tree (admin); the last `readers` nodes are readers.
  const ids = new Rng(o.seed, 'identity')
  const signers = Array.from({ length: o.nodes }, () => signerFromSeed(ids.bytes(32)))
  const tree: SimTree = { id: Buffer.from(ids.bytes(16)).toString('hex'), name: 'sim', key: ids.bytes(32) }
  const roleOf = (i: number): Role => (i === 0 ? 'admin' : i >= o.nodes - o.readers ? 'reader' : 'writer')
  const lateSet = new Set<number>()
  for (let k = 0; k < o.late; k++) lateSet.add(o.nodes - o.readers - 1 - k)
  const stores = signers.map(() => new MemoryMemberLogStore())
  const setup = sched.runtime('setup', new Rng(o.seed, 'setup'))
  const genesis = MemberLog.create({ tree: tree.id, store: stores[0]!, ...setup, signer: signers[0]! })
  for (let i = 1; i < o.nodes; i++) if (!lateSet.has(i)) genesis.add(signers[i]!.nodeId, roleOf(i))
  for (let i = 1; i < o.nodes; i++) if (!lateSet.has(i)) stores[i]!.append(stores[0]!.load())
  setup.kill()

  const dials = topology(
    o,
    signers.map((s) => s.nodeId),
    new Rng(o.seed, 'topology'),
  )
  const invites = new Map<string, { secret: Uint8Array; role: Role; used: boolean }>()
  const nodes: SimNode[] = []
  const inviteBook: InviteBook = {
    redeem: (t, invite, proof, joiner) => {
      const inv = invites.get(invite)
      const admin = nodes[0]!
      if (!inv || inv.used || t !== tree.id || !admin.membership) return undefined
      if (!verifyJoinProof(inv.secret, proof, { tree: t, invite, joiner, inviter: admin.id }))
        return undefined
      inv.used = true
      admin.membership.add(joiner, inv.role)
      return inv.role
    },
  }
  for (let i = 0; i < o.nodes; i++) {
    nodes.push(
      new SimNode({
        index: i,
        signer: signers[i]!,
        seed: o.seed,
        sched,
        net,
        tree,
        memberStore: stores[i]!,
        neighbors: () => dials[i]!,
        ...(i === 0 ? { invites: inviteBook } : {}),
        antiEntropyMs: o.antiEntropyMs,
        fetchTimeoutMs: 20_000,
        breakage: i === 1 || o.nodes === 1 ? o.breakage : 'none',
      }),
    )
  }

  const onRejection = (e: unknown) => violation('unhandled-rejection', String((e as Error)?.stack ?? e))
  process.on('unhandledRejection', onRejection)
  try {
    for (const [i, n] of nodes.entries()) if (!lateSet.has(i)) await n.start()

    const ledger = new WriteLedger()
    const workload = new Workload(new Rng(o.seed, 'workload'), o.workload, ledger, {
      isolate: (node, ms) => {
        links.isolate(node.id, true)
        mark({ kind: 'isolate', node: node.index })
        sched.schedule(ms, 'reconnect', node.id, () => {
          links.isolate(node.id, false)
          mark({ kind: 'reconnect', node: node.index })
        })
      },
      later: (ms, fn) => sched.schedule(ms, 'burst-op', '', fn),
      violation,
      accepts: (node): boolean => !departures.has(node.index),
    })

    const joining = new Set<number>()
    const join = (i: number) => {
      const n = nodes[i]!
      if (n.up || joining.has(i) || stores[i]!.load().length > 0) return
      joining.add(i)
      const invite = Buffer.from(control.bytes(8)).toString('hex')
      const secret = control.bytes(32)
      invites.set(invite, { secret, role: roleOf(i), used: false })
      n.join(nodes[0]!.id, { tree: tree.id, invite, secret }).then(
        () => {
          joining.delete(i)
          mark({ kind: 'join', node: i })
        },
        () => {
          joining.delete(i)
          sched.schedule(5_000, 'join-retry', n.id, () => join(i))
        },
      )
    }
    const joinAt = new Map<number, number[]>()
    for (const i of lateSet) {
      const step = control.int(0, Math.max(0, Math.floor(o.steps / 2)))
      joinAt.set(step, [...(joinAt.get(step) ?? []), i])
    }

    // Leavers: the highest writer indexes below the late joiners, each leaving at a step in the second half.
    const departures = new Departures({
      sched,
      nodes,
      ledger,
      notJoined: (i) => lateSet.has(i) && stores[i]!.load().length === 0,
      busy: (i): boolean => workload.busy(i),
      mark: (kind, node) => mark({ kind, node }),
      violation,
    })
    const leaveAt = new Map<number, number[]>()
    for (let k = 0; k < o.leaves; k++) {
      const i = o.nodes - o.readers - o.late - 1 - k
      const step = control.int(Math.floor(o.steps / 2), Math.max(Math.floor(o.steps / 2), o.steps - 1))
      leaveAt.set(step, [...(leaveAt.get(step) ?? []), i])
    }

    let partitionActive = false
    const up = () => nodes.filter((n) => n.up && !departures.has(n.index))
    const step = (k: number) => {
      for (const i of joinAt.get(k) ?? []) join(i)
      for (const i of leaveAt.get(k) ?? []) departures.begin(i)
      if (!partitionActive && o.nodes > 1 && control.chance(o.partitions)) {
        const groups: number[][] = [[], []]
        for (let i = 0; i < o.nodes; i++) groups[control.int(0, 1)]!.push(i)
        if (groups[0]!.length > 0 && groups[1]!.length > 0) {
          partitionActive = true
          links.partition(groups.map((g) => g.map((i) => nodes[i]!.id)))
          mark({ kind: 'partition', groups })
          sched.schedule(control.int(5_000, 60_000), 'heal', '', () => {
            if (!partitionActive) return
            partitionActive = false
            links.heal()
            mark({ kind: 'heal' })
          })
        }
      }
      if (control.chance(o.crashes)) {
        const alive = up()
        if (alive.length > 0) {
          const victim = control.pick(alive)
          victim.crash()
          mark({ kind: 'crash', node: victim.index })
          const restartIn = control.int(2_000, 30_000)
          sched.schedule(restartIn, 'restart', victim.id, () => restart(victim))
        }
      }
      const alive = up()
      if (alive.length > 0) workload.run(control.pick(alive))
      if (o.spotEvery > 0 && k % o.spotEvery === o.spotEvery - 1 && alive.length > 0) {
        for (const v of spotCheck(control.pick(alive), sched.elapsed())) violations.push(v)
      }
    }
    const restart = (n: SimNode) => {
      if (n.up) return
      n.start().then(
        () => mark({ kind: 'restart', node: n.index }),
        (e) => violation('restart-failed', `node ${n.index}: ${(e as Error)?.stack ?? e}`),
      )
    }

    let t = 0
    for (let k = 0; k < o.steps; k++) {
      t += control.exp(o.opIntervalMs)
      const kk = k
      sched.schedule(t, 'step', '', () => step(kk))
    }
    const endAt = sched.now() + t + 1
    await sched.run({ until: endAt })
    // A leave drawn for a step the run never reached (steps rounding) still happens.
    for (const list of leaveAt.values()) for (const i of list) departures.begin(i)

    // Heal everything, restart the crashed, let the late join, then wait for quiet.
    mark({ kind: 'workload-end' })
    partitionActive = false
    links.heal()
    links.rejoinAll()
    mark({ kind: 'heal' })
    const healedAt = sched.now()
    for (const [i, n] of nodes.entries()) {
      if (lateSet.has(i) && stores[i]!.load().length === 0) join(i)
      else restart(n)
    }
    let convergeMs: number | null = null
    const settleEnd = healedAt + o.settleMs
    const remaining = nodes.filter((n) => !departures.has(n.index))
    while (sched.now() < settleEnd) {
      await sched.run({ until: sched.now() + 1000 })
      if (departures.settled && (await quiet(remaining))) {
        convergeMs = sched.now() - healedAt
        mark({ kind: 'converged' })
        break
      }
    }
    if (convergeMs === null) {
      violation(
        'no-convergence',
        `the swarm did not converge within ${o.settleMs} virtual ms after the final heal: ${await whyNotQuiet(remaining)}${departures.settled ? '' : '; a departure did not finish'}`,
      )
    }
    for (const e of sched.errors) violation('uncaught', `${e.kind} on ${e.node.slice(0, 8)}: ${e.error}`)
    if (nodes.some((n, i) => lateSet.has(i) && !n.up)) violation('join-failed', 'a late node never joined')
    if (convergeMs !== null) {
      for (const v of await finalChecks({
        nodes: remaining,
        ledger,
        at: sched.elapsed(),
        settle: (p) => sched.settle(p, 30_000),
      }))
        violations.push(v)
      for (const v of departures.check(remaining, sched.elapsed())) violations.push(v)
    }
    const traceHash = sched.traceHash()
    const counters = net.counters
    const result: SimResult = {
      seed: o.seed,
      command: reproduceCommand(o),
      traceHash,
      converged: convergeMs !== null && !violations.some((v) => v.kind === 'diverged'),
      violations,
      ops: workload.counters,
      messages: {
        frames: counters.framesSent,
        frameBytes: counters.frameBytes,
        datagrams: links.counters.datagrams,
        datagramBytes: links.counters.bytes,
        dropped: links.counters.dropped,
        duplicated: links.counters.duplicated,
        reordered: links.counters.reordered,
        retransmits: counters.retransmits,
        dials: counters.dials,
        timeouts: counters.timeouts,
        resets: counters.resets,
      },
      events: sched.executed,
      virtualMs: sched.elapsed(),
      wallMs: 0,
      convergeMs,
      timeline,
      volume: links.volume.map((x) => x ?? 0),
      bucketMs: links.bucketMs,
      nodes: nodes.map((n) => ({
        index: n.index,
        id: n.id,
        role: roleOf(n.index),
        incarnations: n.incarnation,
        lastChangeMs: n.lastChange > 0 ? n.lastChange - (sched.now() - sched.elapsed()) : 0,
      })),
      heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    }
    checkBounds(result, o, violation)
    for (const n of nodes) await sched.settle(n.stop(), 30_000).catch(() => n.crash())
    result.wallMs = Math.round(performance.now() - wall0)
    return result
  } finally {
    process.off('unhandledRejection', onRejection)
  }
}

/** Quiet: every live full replica has the same shard heads, readers hold them too, no chunk missing. */
async function quiet(nodes: SimNode[]): Promise<boolean> {
  const live = nodes.filter((n) => n.up && n.tree)
  if (live.length < nodes.length) return false
  // The member list is gossiped like the shards: a late joiner's admission reaches readers a round later.
  const members = membersKey(live[0]!)
  if (live.some((n) => membersKey(n) !== members)) return false
  const full = live.filter((n) => n.role() !== 'reader')
  if (full.length === 0) return true
  const key = headsKey(full[0]!)
  if (full.some((n) => headsKey(n) !== key)) return false
  const t = full[0]!.tree!
  const heads = t.shardIds().flatMap((s) => t.headsOf(s))
  for (const n of live) if (n.role() === 'reader' && heads.some((h) => !knows(n, h))) return false
  for (const n of live) if ((await missingChunks(n)) > 0) return false
  return true
}

function membersKey(n: SimNode): string {
  return JSON.stringify(n.membership?.members() ?? null)
}

/** What keeps the swarm from being quiet (for the violation's detail). */
async function whyNotQuiet(nodes: SimNode[]): Promise<string> {
  const down = nodes.filter((n) => !n.up).map((n) => n.index)
  if (down.length > 0) return `node(s) ${down.join(', ')} not running`
  const full = nodes.filter((n) => n.role() !== 'reader')
  const groups = new Map<string, number[]>()
  for (const n of full) groups.set(headsKey(n), [...(groups.get(headsKey(n)) ?? []), n.index])
  const parts: string[] = []
  const lists = new Map<string, number[]>()
  for (const n of nodes) lists.set(membersKey(n), [...(lists.get(membersKey(n)) ?? []), n.index])
  if (lists.size > 1)
    parts.push(`member lists differ: ${[...lists.values()].map((g) => `[${g.join(',')}]`).join(' vs ')}`)
  if (groups.size > 1)
    parts.push(`shard heads differ: ${[...groups.values()].map((g) => `[${g.join(',')}]`).join(' vs ')}`)
  for (const n of nodes) {
    const m = await missingChunks(n)
    if (m > 0) parts.push(`node ${n.index} misses ${m} chunk(s)`)
    const peers = n.engine!.peers().length
    if (peers === 0) parts.push(`node ${n.index} has no peer`)
  }
  return parts.join('; ') || 'unknown'
}

/**
 * Who dials whom. Degree 0 (or one covering everyone): every pair, the lower
 * index dialling. Otherwise a ring (so the graph is connected) plus seeded
 * random chords, about `degree` connections per node.
 */
function topology(o: SimOptions, ids: string[], rng: Rng): string[][] {
  const n = ids.length
  const out: Set<number>[] = ids.map(() => new Set())
  if (o.degree === 0 || o.degree >= n - 1) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[i]!.add(j)
  } else {
    const extra = Math.max(0, Math.ceil(o.degree / 2) - 1)
    for (let i = 0; i < n; i++) {
      out[i]!.add((i + 1) % n)
      for (let k = 0; k < extra; k++) {
        const j = rng.int(0, n - 1)
        if (j !== i && !out[j]!.has(i)) out[i]!.add(j)
      }
    }
  }
  return out.map((s) => [...s].sort((a, b) => a - b).map((j) => ids[j]!))
}

/**
 * Message bounds: gossip costs a bounded number of frames per operation and
 * peer, anti-entropy a bounded number per period, peer and shard; anything
 * far beyond means a loop (e.g. two nodes re-sending the same changes).
 */
function checkBounds(r: SimResult, o: SimOptions, violation: (k: string, d: string) => void): void {
  const degree = o.degree === 0 ? Math.max(1, o.nodes - 1) : Math.min(o.nodes - 1, o.degree + 2)
  const rounds = r.virtualMs / o.antiEntropyMs + 1
  const shards = 4
  const bound = 200 * (r.ops.total + o.nodes) * degree + 40 * rounds * o.nodes * degree * shards
  if (r.messages.frames > bound) {
    violation(
      'message-bound',
      `${r.messages.frames} frames for ${r.ops.total} operations (bound ${Math.round(bound)})`,
    )
  }
  if (r.heapMB > 6144) violation('memory-bound', `heap ${r.heapMB} MiB after the run`)
}
