/**
 * The workload: filesystem operations through the real Volume of random
 * nodes, in a mix given on the command line (`create=30,write=30,...`).
 * Targets are drawn from paths the workload created (a bounded recent set);
 * an operation that no longer fits the node's view fails with its POSIX code
 * like it would for a user, and that is counted, not a violation. Any other
 * failure is one.
 */
import { constants } from 'node:fs'
import { FsError } from '../node/errors.js'
import type { WriteLedger } from './ledger.js'
import type { SimNode } from './node.js'
import type { Rng } from './rng.js'

const { O_RDWR } = constants

export const OP_KINDS = [
  'create',
  'write',
  'append',
  'rename',
  'move',
  'delete',
  'mkdir',
  'rmdir',
  'burst',
] as const
export type OpKind = (typeof OP_KINDS)[number]
export type Mix = Record<OpKind, number>

export const DEFAULT_MIX: Mix = {
  create: 25,
  write: 20,
  append: 5,
  rename: 10,
  move: 10,
  delete: 10,
  mkdir: 10,
  rmdir: 5,
  burst: 5,
}

/** Parse `create=30,write=30,...` (kinds left out weigh 0). */
export function parseMix(text: string): Mix {
  const mix = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Mix
  for (const part of text.split(',')) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part.trim())
    if (!m || !(OP_KINDS as readonly string[]).includes(m[1]!)) {
      throw new RangeError(
        `bad workload item '${part}' (want KIND=WEIGHT, KIND one of ${OP_KINDS.join(', ')})`,
      )
    }
    mix[m[1] as OpKind] = Number(m[2])
  }
  if (OP_KINDS.every((k) => mix[k] === 0)) throw new RangeError('the workload mix has no positive weight')
  return mix
}

export function formatMix(mix: Mix): string {
  return OP_KINDS.filter((k) => mix[k] > 0)
    .map((k) => `${k}=${mix[k]}`)
    .join(',')
}

export interface OpCounters {
  total: number
  ok: number
  /** Failed with a POSIX code (the target moved away, name taken, ...). */
  refused: number
  byKind: Record<string, number>
}

/** A bounded set of recently used paths to draw targets from. */
class Recent {
  private items: string[] = []
  constructor(private readonly max: number) {}
  add(p: string): void {
    this.items.push(p)
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max)
  }
  pick(rng: Rng): string | undefined {
    return this.items.length ? rng.pick(this.items) : undefined
  }
}

export interface WorkloadHooks {
  /** Isolate a node for `ms` (an offline editing burst). */
  isolate(node: SimNode, ms: number): void
  /** Run `fn` after `ms` virtual ms. */
  later(ms: number, fn: () => void): void
  violation(kind: string, detail: string): void
  /** False for a node that takes no more operations (it is leaving); burst edits drawn earlier are dropped. */
  accepts?(node: SimNode): boolean
}

export class Workload {
  readonly counters: OpCounters = { total: 0, ok: 0, refused: 0, byKind: {} }
  private readonly inFlight = new Map<number, number>()
  private readonly files = new Recent(400)
  private readonly dirs = new Recent(200)
  private readonly kinds: OpKind[] = []
  private readonly weights: number[] = []
  private opSeq = 0

  constructor(
    private readonly rng: Rng,
    mix: Mix,
    private readonly ledger: WriteLedger,
    private readonly hooks: WorkloadHooks,
  ) {
    for (const k of OP_KINDS) {
      if (mix[k] > 0) {
        this.kinds.push(k)
        this.weights.push(mix[k])
      }
    }
    this.dirs.add('/')
  }

  /** Run one operation of a random kind on `node` (a burst: several, with the node cut off). */
  run(node: SimNode): void {
    const kind = this.drawKind()
    if (kind === 'burst') {
      this.count('burst')
      const ms = this.rng.int(5_000, 30_000)
      this.hooks.isolate(node, ms)
      const n = this.rng.int(3, 8)
      for (let i = 0; i < n; i++)
        this.hooks.later((ms * (i + 1)) / (n + 1), () => this.runKind(node, this.drawEdit()))
      return
    }
    this.runKind(node, kind)
  }

  private drawKind(): OpKind {
    const total = this.weights.reduce((a, b) => a + b, 0)
    let x = this.rng.float() * total
    for (let i = 0; i < this.kinds.length; i++) {
      x -= this.weights[i]!
      if (x < 0) return this.kinds[i]!
    }
    return this.kinds[this.kinds.length - 1]!
  }

  private drawEdit(): OpKind {
    for (;;) {
      const k = this.drawKind()
      if (k !== 'burst') return k
      if (this.kinds.length === 1) return 'create'
    }
  }

  private count(kind: string): void {
    this.counters.total++
    this.counters.byKind[kind] = (this.counters.byKind[kind] ?? 0) + 1
  }

  /** Whether an operation on node `index` has started and not yet settled. */
  busy(index: number): boolean {
    return (this.inFlight.get(index) ?? 0) > 0
  }

  private runKind(node: SimNode, kind: OpKind): void {
    if (!node.up || !node.volume || this.hooks.accepts?.(node) === false) return
    this.count(kind)
    const op = ++this.opSeq
    const incarnation = node.incarnation
    this.inFlight.set(node.index, (this.inFlight.get(node.index) ?? 0) + 1)
    void this.exec(node, kind, op)
      .finally(() => this.inFlight.set(node.index, this.inFlight.get(node.index)! - 1))
      .then(
        (ok) => {
          if (ok) this.counters.ok++
        },
        (e) => {
          if (e instanceof FsError) {
            this.counters.refused++
            return
          }
          // The node crashed while the operation waited (its volume closed): not a bug.
          if (!node.up || node.incarnation !== incarnation) return
          this.hooks.violation(
            'unexpected-error',
            `op ${op} ${kind} on node ${node.index}: ${(e as Error)?.stack ?? e}`,
          )
        },
      )
  }

  /** One operation; resolves true when acknowledged. */
  private async exec(node: SimNode, kind: OpKind, op: number): Promise<boolean> {
    const v = node.volume!
    const tree = node.tree!
    const incarnation = node.incarnation
    const reader = node.role() === 'reader'
    const alive = () => node.up && node.incarnation === incarnation
    const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`)
    switch (kind) {
      case 'create': {
        const path = join(this.dirs.pick(this.rng) ?? '/', `f${op}.txt`)
        const data = this.content(op, node.index)
        const attr = await v.writeFile(path, data, { exclusive: true })
        if (!alive()) return false
        this.ledger.acknowledge(op, node.index, tree, attr.id, reader)
        this.files.add(path)
        return true
      }
      case 'write':
      case 'append': {
        const path = this.files.pick(this.rng)
        if (!path) return false
        const before = tree.resolve(path)
        if (before?.kind !== 'file') return false
        const previous = this.ledger.lastOwnWrite(tree, before.ino)
        if (kind === 'write' && this.rng.chance(0.5)) {
          await v.writeFile(path, this.content(op, node.index))
        } else {
          const fh = await v.open(path, O_RDWR)
          try {
            const size = (await v.getattr(path, fh)).size
            const at = kind === 'append' ? size : this.rng.int(0, size)
            await v.write(fh, at, this.content(op, node.index, 16, 512))
          } finally {
            await v.release(fh)
          }
        }
        if (!alive()) return false
        const rec = this.ledger.acknowledge(op, node.index, tree, before.ino, reader, previous)
        if (!rec) return false
        // What the node held when it committed (a change merged while the write waited counts).
        this.ledger.supersede(
          this.ledger.seenBy(tree, before.ino).filter((w) => w !== rec),
          rec,
        )
        return true
      }
      case 'rename':
      case 'move': {
        const from = this.rng.chance(0.7) ? this.files.pick(this.rng) : this.dirs.pick(this.rng)
        if (!from || from === '/') return false
        const name = `${kind === 'rename' ? 'r' : 'm'}${op}`
        let to: string
        if (kind === 'rename') {
          const over = this.rng.chance(0.1) ? this.files.pick(this.rng) : undefined
          to = over && over !== from ? over : join(parentOf(from), name)
        } else {
          to = join(this.dirs.pick(this.rng) ?? '/', name)
        }
        const target = tree.resolve(to)
        const isDir = tree.resolve(from)?.kind === 'dir'
        await v.rename(from, to)
        if (!alive()) return false
        if (target?.kind === 'file' && target.ino !== tree.resolve(to)?.ino) {
          this.ledger.supersede(this.ledger.seenBy(tree, target.ino), 'removed')
        }
        if (isDir) this.dirs.add(to)
        else this.files.add(to)
        return true
      }
      case 'delete': {
        const path = this.files.pick(this.rng)
        if (!path) return false
        const e = tree.resolve(path)
        await v.unlink(path)
        if (!alive()) return false
        if (e) this.ledger.supersede(this.ledger.seenBy(tree, e.ino), 'removed')
        return true
      }
      case 'mkdir': {
        const path = join(this.dirs.pick(this.rng) ?? '/', `d${op}`)
        await v.mkdir(path, 0o755)
        this.dirs.add(path)
        return alive()
      }
      case 'rmdir': {
        const path = this.dirs.pick(this.rng)
        if (!path || path === '/') return false
        await v.rmdir(path)
        return alive()
      }
      case 'burst':
        return false
    }
  }

  /** Unique bytes per operation: a header naming it, then seeded noise. */
  private content(op: number, node: number, min = 32, max = 4096): Uint8Array {
    const big = max > 512 && this.rng.chance(0.03)
    const n = big ? this.rng.int(64 * 1024, 300 * 1024) : this.rng.int(min, max)
    const head = new TextEncoder().encode(`op ${op} node ${node}\n`)
    const out = new Uint8Array(Math.max(n, head.length))
    out.set(head)
    out.set(this.rng.bytes(out.length - head.length), head.length)
    return out
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}
