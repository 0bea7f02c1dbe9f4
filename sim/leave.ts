/**
 * Members that leave for good (`bt sim --leave N`), through the real
 * revocation path: the leaving node stops taking operations, hands its
 * changes off (every head of its replica is held by another full replica),
 * then the admin removes it from the membership log (`MemberLog.remove`, as
 * `bt tree remove-member` does). The node keeps running as an outsider: its
 * dialer keeps trying, its peers refuse it.
 *
 * Checked at the end (docs/SIM.md, Invariants): the remaining members agree
 * on a member list without it; nothing it wrote after every remaining member
 * knew of its removal is visible anywhere else; and it holds none of the
 * changes the others committed after that moment ("they get nothing new").
 * Its writes from before it left are ordinary acknowledged writes: the
 * hand-off means none may be lost.
 */
import { knows, missingChunks, type Violation, walk } from './invariants.js'
import type { WriteLedger } from './ledger.js'
import type { SimNode } from './node.js'
import type { Scheduler } from './scheduler.js'

export interface Departure {
  node: number
  /** Virtual ms (since the start) when the admin's removal was committed. */
  removedAt?: number
  /** Virtual ms when every remaining member's log held the removal. */
  allKnewAt?: number
  /** Ledger length at `allKnewAt`: writes recorded after it were made once everyone refused the node. */
  ledgerMark?: number
  /** The write the departed node made after `allKnewAt` (its id), which must reach no one. */
  outsiderWrite?: string
}

export interface DeparturesInit {
  sched: Scheduler
  nodes: SimNode[]
  ledger: WriteLedger
  /** Whether node i is still to join (late, not yet admitted): it will get the member list from its welcome. */
  notJoined: (i: number) => boolean
  /** Whether node i has a workload operation in flight (it must settle before the hand-off counts). */
  busy: (i: number) => boolean
  mark: (kind: 'leave', node: number) => void
  violation: (kind: string, detail: string) => void
}

const POLL_MS = 500

export class Departures {
  private readonly byNode = new Map<number, Departure>()

  constructor(private readonly d: DeparturesInit) {}

  /** Nodes that left or are leaving: the workload and the fault injector leave them alone. */
  has(i: number): boolean {
    return this.byNode.has(i)
  }

  get list(): Departure[] {
    return [...this.byNode.values()]
  }

  /** Node i starts leaving now. */
  begin(i: number): void {
    if (this.byNode.has(i)) return
    const dep: Departure = { node: i }
    this.byNode.set(i, dep)
    this.poll(dep)
  }

  /** Every departure ran to its end (removed, known by all, outsider write made). */
  get settled(): boolean {
    return this.list.every((d) => d.outsiderWrite !== undefined && d.outsiderWrite !== 'pending')
  }

  private poll(dep: Departure): void {
    const { sched, nodes } = this.d
    const n = nodes[dep.node]!
    sched.schedule(POLL_MS, 'leave-poll', n.id, () => {
      this.step(dep).then(
        () => {
          if (dep.outsiderWrite === undefined) this.poll(dep)
        },
        (e) => this.d.violation('leave', `node ${dep.node}: ${(e as Error)?.stack ?? e}`),
      )
    })
  }

  private async step(dep: Departure): Promise<void> {
    const { sched, nodes } = this.d
    const n = nodes[dep.node]!
    const admin = nodes[0]!
    if (dep.removedAt === undefined) {
      if (!n.up || !n.tree || !admin.up || !admin.membership || this.d.busy(dep.node)) return
      if (!(await this.handedOff(n))) return
      if (!admin.up || !admin.membership) return
      admin.membership.remove(n.id)
      dep.removedAt = sched.elapsed()
      this.d.mark('leave', dep.node)
      return
    }
    if (dep.allKnewAt === undefined) {
      for (const [i, m] of nodes.entries()) {
        // Not asked of a node still to join (its welcome carries the list) nor of one that left itself.
        if (i === dep.node || this.d.notJoined(i) || this.byNode.get(i)?.removedAt !== undefined) continue
        if (!m.up || !m.membership || m.membership.roleOf(n.id) !== undefined) return
      }
      dep.allKnewAt = sched.elapsed()
      dep.ledgerMark = this.d.ledger.writes.length
      return
    }
    if (dep.outsiderWrite === undefined && n.up && n.volume && n.tree) {
      const tree = n.tree
      const path = `/left-by-node-${dep.node}`
      dep.outsiderWrite = 'pending'
      n.volume.writeFile(path, new TextEncoder().encode(`written by node ${dep.node} after it left\n`)).then(
        (attr) => {
          const content = tree.get(attr.id)?.content
          if (!content)
            this.d.violation('leave', `node ${dep.node}: its own write of ${path} is not in its tree`)
          else dep.outsiderWrite = content.write
        },
        (e) =>
          this.d.violation('leave', `node ${dep.node} cannot write ${path} locally: ${(e as Error).message}`),
      )
    }
  }

  /**
   * Another running full replica that is not leaving holds every head of n's
   * replica and every chunk of what it shows: nothing n wrote depends on n any more.
   */
  private async handedOff(n: SimNode): Promise<boolean> {
    const t = n.tree!
    const heads = t.shardIds().flatMap((s) => t.headsOf(s))
    for (const m of this.d.nodes) {
      if (m === n || !m.up || !m.tree || this.byNode.has(m.index) || m.role() === 'reader') continue
      if (heads.every((h) => knows(m, h)) && (await missingChunks(m)) === 0) return true
    }
    return false
  }

  /** The end-of-run checks for departed nodes (docs/SIM.md). `remaining`: every other node. */
  check(remaining: SimNode[], at: number): Violation[] {
    const v: Violation[] = []
    const add = (kind: string, detail: string) => v.push({ kind, detail, at })
    const { nodes, ledger } = this.d
    // Every write id visible on each remaining node: one walk per node, whatever the number of departures.
    let visible: Set<string>[] | undefined
    const writesOn = () => {
      visible ??= remaining.map((m) => (m.tree ? walk(m).writes : new Set<string>()))
      return visible
    }
    for (const dep of this.list) {
      const n = nodes[dep.node]!
      if (dep.removedAt === undefined) {
        add(
          'leave',
          `node ${dep.node} never left (its changes were never handed off, or the admin never ran)`,
        )
        continue
      }
      for (const m of remaining) {
        if (m.membership?.roleOf(n.id) !== undefined)
          add('membership', `node ${m.index} still lists departed node ${dep.node}`)
      }
      if (dep.outsiderWrite === undefined || dep.outsiderWrite === 'pending') {
        add('leave', `node ${dep.node} made no write after every member knew of its removal`)
        continue
      }
      for (const [i, writes] of writesOn().entries()) {
        if (writes.has(dep.outsiderWrite))
          add(
            'role',
            `departed node ${dep.node}'s write after its removal reached node ${remaining[i]!.index}`,
          )
      }
      if (!n.tree) continue
      for (const w of ledger.writes.slice(dep.ledgerMark)) {
        if (w.node === dep.node) continue
        if (knows(n, w.change))
          add(
            'revoked',
            `departed node ${dep.node} received op ${w.op} (node ${w.node}), made after all knew it left`,
          )
      }
    }
    return v
  }
}
