/**
 * The in-memory model behind the materialized view: the raw inodes of all
 * shards and what is derived from them — effective locations (orphans and
 * cycle breaking), liveness (a removed directory with live descendants stays
 * visible) and the visible entries of each (directory, name) group.
 *
 * Everything derived is a pure function of the raw inodes, so replicas with
 * the same documents show the same tree whatever order they merged in.
 * `update` maintains it incrementally and reports the groups whose visible
 * entries must be recomputed; `rebuild` computes it from scratch.
 */
import { isTombstoned, type RawInode } from './inode-codec.js'
import { compareOpIds, conflictName } from './names.js'
import { type Entry, type InodeId, LOST_FOUND, ROOT_ID } from './types.js'

/** Inode id of the virtual `/lost+found` directory. */
export const LOST_INO: InodeId = LOST_FOUND

/** One visible row: a name in a directory (an `Entry` with how its name was derived). */
export interface EntryRow extends Omit<Entry, 'conflict'> {
  /** The raw name of the group this row was derived from. */
  base: string
  /** The derived name before disambiguation (equal to `name` for primary rows). */
  want: string
  /** 0 = primary, 1 = duplicate-name loser, 2 = losing content version. */
  ckind: 0 | 1 | 2
  version: string | null
}

interface Loc {
  parent: InodeId
  name: string
}

export function groupKey(parent: InodeId, name: string): string {
  return `${parent}/${name}`
}

export function splitGroupKey(key: string): Loc {
  const i = key.indexOf('/')
  return { parent: key.slice(0, i), name: key.slice(i + 1) }
}

export class TreeModel {
  readonly raw = new Map<InodeId, RawInode>()
  private readonly byParent = new Map<InodeId, Set<InodeId>>()
  private readonly shardCounts = new Map<number, number>()
  private overrides = new Map<InodeId, Loc>()
  private readonly loc = new Map<InodeId, Loc>()
  private readonly groups = new Map<string, Set<InodeId>>()
  private readonly live = new Set<InodeId>()
  private readonly liveKids = new Map<InodeId, number>()
  private dirty = new Set<string>()
  /** Off while rebuilding from scratch: every group is recomputed anyway. */
  private tracking = true

  constructor() {
    this.groups.set(groupKey(ROOT_ID, LOST_FOUND), new Set([LOST_INO]))
  }

  /** Inodes stored in a shard (tombstones included: they stay in the document). */
  shardCount(shard: number): number {
    return this.shardCounts.get(shard) ?? 0
  }

  shards(): number[] {
    return [...this.shardCounts.keys()].sort((a, b) => a - b)
  }

  isLive(ino: InodeId): boolean {
    return ino === ROOT_ID || this.live.has(ino)
  }

  /** Effective location (after orphan placement and cycle breaking). */
  locationOf(ino: InodeId): Loc | undefined {
    return this.loc.get(ino)
  }

  /** Whether `ino` is `anc` or below it, following effective locations. */
  isWithin(ino: InodeId, anc: InodeId): boolean {
    let cur: InodeId | undefined = ino
    for (let i = 0; cur !== undefined && i <= this.raw.size + 1; i++) {
      if (cur === anc) return true
      if (cur === ROOT_ID || cur === LOST_INO) return false
      cur = this.loc.get(cur)?.parent
    }
    return false
  }

  /** Number of inodes whose cycle-free location had to be overridden (reverted or lost+found). */
  overrideCount(): number {
    return this.overrides.size
  }

  /** Replace the raw state of some inodes (undefined = absent); returns the groups to recompute. */
  update(changes: Map<InodeId, RawInode | undefined>): Set<string> {
    const affected = new Set<InodeId>()
    const dirs: InodeId[] = []
    for (const [ino, r] of changes) {
      const old = this.raw.get(ino)
      if (old) {
        this.byParent.get(old.parent)?.delete(ino)
        this.shardCounts.set(old.shard, this.shardCount(old.shard) - 1)
      }
      if (r) {
        this.raw.set(ino, r)
        setAdd(this.byParent, r.parent, ino)
        this.shardCounts.set(r.shard, this.shardCount(r.shard) + 1)
      } else {
        this.raw.delete(ino)
      }
      affected.add(ino)
      if (old?.kind === 'dir' || r?.kind === 'dir') dirs.push(ino)
      // A parent appearing or vanishing moves its raw children in or out of lost+found.
      if (!old || !r || old.kind !== r.kind) for (const c of this.byParent.get(ino) ?? []) affected.add(c)
    }
    if (dirs.length > 0 && (this.overrides.size > 0 || this.cycleReachable(dirs))) {
      const next = this.computeOverrides()
      for (const k of new Set([...next.keys(), ...this.overrides.keys()])) {
        const a = next.get(k)
        const b = this.overrides.get(k)
        if (a?.parent !== b?.parent || a?.name !== b?.name) affected.add(k)
      }
      this.overrides = next
    }
    this.relocate(affected)
    const out = this.dirty
    this.dirty = new Set()
    return out
  }

  /** Recompute everything from `all`; returns every group key holding a live member (if `groups`). */
  rebuild(all: Iterable<RawInode>, groups = true): Set<string> {
    this.raw.clear()
    this.byParent.clear()
    this.shardCounts.clear()
    this.loc.clear()
    this.groups.clear()
    this.groups.set(groupKey(ROOT_ID, LOST_FOUND), new Set([LOST_INO]))
    this.live.clear()
    this.liveKids.clear()
    this.overrides = new Map()
    const changes = new Map<InodeId, RawInode>()
    for (const r of all) changes.set(r.ino, r)
    this.tracking = false
    try {
      this.update(changes)
    } finally {
      this.tracking = true
    }
    const keys = new Set<string>()
    if (!groups) return keys
    for (const [k, s] of this.groups) for (const i of s) if (this.live.has(i)) keys.add(k)
    return keys
  }

  /** Visible rows of one (directory, name) group: a pure function of the model. */
  computeGroup(key: string): EntryRow[] {
    const { parent, name } = splitGroupKey(key)
    const members: InodeId[] = []
    for (const i of this.groups.get(key) ?? []) if (this.live.has(i)) members.push(i)
    if (members.length === 0) return []
    // Virtual lost+found first, then lowest (ctime, id) keeps the name.
    members.sort((a, b) => {
      if (a === LOST_INO || b === LOST_INO) return a === LOST_INO ? -1 : 1
      const ra = this.raw.get(a)!
      const rb = this.raw.get(b)!
      return ra.ctime - rb.ctime || (a < b ? -1 : a > b ? 1 : 0)
    })
    const rows: EntryRow[] = []
    const used = new Set<string>()
    const pick = (want: string, alt: (extra: string) => string, id: string): string => {
      for (const cand of [want, alt(id.slice(-8)), alt(id.replace(/[^0-9a-zA-Z]/g, ''))]) {
        if (!used.has(cand) && !this.nameTaken(parent, cand)) return cand
      }
      return alt(`${id.replace(/[^0-9a-zA-Z]/g, '')}-${rows.length}`)
    }
    members.forEach((ino, i) => {
      if (ino === LOST_INO) {
        rows.push({
          ...this.baseRow(parent, name, ino),
          kind: 'dir',
          mode: 0o700,
          mtime: 0,
          ctime: 0,
          size: 0,
        })
        used.add(name)
        return
      }
      const r = this.raw.get(ino)!
      const row = this.rowOf(parent, name, r)
      if (i > 0) {
        const isFile = r.kind === 'file'
        const want = conflictName(name, r.origin, r.ctime, isFile)
        row.want = want
        row.name = pick(want, (x) => conflictName(name, r.origin, r.ctime, isFile, x), ino)
        row.ckind = 1
        row.version = 'dup'
      }
      used.add(row.name)
      rows.push(row)
    })
    for (const ino of members) {
      const r = this.raw.get(ino)
      if (r?.kind !== 'file') continue
      for (const v of r.contents.slice(1)) {
        const want = conflictName(name, v.node, v.time, true)
        const copy: EntryRow = {
          ...this.rowOf(parent, name, r),
          want,
          name: pick(want, (x) => conflictName(name, v.node, v.time, true, x), v.write),
          ckind: 2,
          version: v.write,
          mode: r.mode & ~0o222,
          mtime: v.time,
          size: v.ref.size,
          content: v,
        }
        used.add(copy.name)
        rows.push(copy)
      }
    }
    return rows
  }

  /** Whether a directory has a live child (conflict copies only exist for live children). */
  hasLiveChildren(ino: InodeId): boolean {
    return (this.liveKids.get(ino) ?? 0) > 0
  }

  /** Whether a live inode (or the virtual lost+found) has the raw name `name` in `parent`. */
  nameTaken(parent: InodeId, name: string): boolean {
    for (const i of this.groups.get(groupKey(parent, name)) ?? []) if (this.live.has(i)) return true
    return false
  }

  private baseRow(parent: InodeId, name: string, ino: InodeId) {
    return { parent, name, ino, base: name, want: name, ckind: 0 as const, version: null }
  }

  private rowOf(parent: InodeId, name: string, r: RawInode): EntryRow {
    const row: EntryRow = {
      ...this.baseRow(parent, name, r.ino),
      kind: r.kind,
      mode: r.mode,
      mtime: r.mtime,
      ctime: r.ctime,
      size:
        r.kind === 'file'
          ? (r.contents[0]?.ref.size ?? 0)
          : r.kind === 'symlink'
            ? Buffer.byteLength(r.target ?? '')
            : 0,
    }
    if (r.kind === 'file' && r.contents[0]) row.content = r.contents[0]
    if (r.kind === 'symlink') row.target = r.target ?? ''
    return row
  }

  /** Location from a raw (parent, name): orphans of unknown or non-directory parents go to lost+found. */
  private placed(ino: InodeId, parent: InodeId, name: string): Loc {
    if (parent === ROOT_ID) return { parent, name }
    const p = this.raw.get(parent)
    if (parent === ino || !p || p.kind !== 'dir') return { parent: LOST_INO, name }
    return { parent, name }
  }

  private baseLoc(r: RawInode): Loc {
    return this.placed(r.ino, r.parent, r.name)
  }

  private effParent(ino: InodeId, ov: Map<InodeId, Loc>): InodeId {
    const r = this.raw.get(ino)!
    return (ov.get(ino) ?? this.baseLoc(r)).parent
  }

  /** Cheap check after directory changes with no overrides in place: can any walk up revisit a node? */
  private cycleReachable(dirs: InodeId[]): boolean {
    for (const d of dirs) {
      if (!this.raw.has(d)) continue
      const seen = new Set<InodeId>()
      let cur: InodeId = d
      while (cur !== ROOT_ID && cur !== LOST_INO) {
        if (seen.has(cur)) return true
        seen.add(cur)
        if (!this.raw.has(cur)) break
        cur = this.effParent(cur, this.overrides)
      }
    }
    return false
  }

  /**
   * Break move cycles deterministically: in each round, every cycle's member
   * with the greatest `loc` op id goes back to its previous location; a member
   * already reverted once (or without a previous location) goes to lost+found.
   */
  private computeOverrides(): Map<InodeId, Loc> {
    const ov = new Map<InodeId, Loc>()
    const reverted = new Set<InodeId>()
    const dirs: InodeId[] = []
    for (const [i, r] of this.raw) if (r.kind === 'dir') dirs.push(i)
    for (;;) {
      const cycles = this.findCycles(dirs, ov)
      if (cycles.length === 0) return ov
      for (const cyc of cycles) {
        let m = cyc[0]!
        for (const c of cyc) if (compareOpIds(this.raw.get(c)!.locOp, this.raw.get(m)!.locOp) > 0) m = c
        const r = this.raw.get(m)!
        if (!reverted.has(m) && r.prevParent !== null && r.prevName !== null) {
          reverted.add(m)
          ov.set(m, this.placed(m, r.prevParent, r.prevName))
        } else {
          ov.set(m, { parent: LOST_INO, name: r.name })
        }
      }
    }
  }

  private findCycles(dirs: InodeId[], ov: Map<InodeId, Loc>): InodeId[][] {
    const state = new Map<InodeId, number>() // 1 = on current walk, 2 = done
    const cycles: InodeId[][] = []
    for (const start of dirs) {
      if (state.has(start)) continue
      const path: InodeId[] = []
      let cur: InodeId = start
      for (;;) {
        if (cur === ROOT_ID || cur === LOST_INO || !this.raw.has(cur)) break
        const s = state.get(cur)
        if (s === 2) break
        if (s === 1) {
          cycles.push(path.slice(path.indexOf(cur)))
          break
        }
        state.set(cur, 1)
        path.push(cur)
        cur = this.effParent(cur, ov)
      }
      for (const p of path) state.set(p, 2)
    }
    return cycles
  }

  private markLoc(l: Loc | undefined): void {
    if (l && this.tracking) this.dirty.add(groupKey(l.parent, l.name))
  }

  private relocate(affected: Set<InodeId>): void {
    for (const a of affected) if (this.live.has(a)) this.detach(a)
    for (const a of affected) {
      const old = this.loc.get(a)
      if (old) {
        this.groups.get(groupKey(old.parent, old.name))?.delete(a)
        this.markLoc(old)
      }
      const r = this.raw.get(a)
      if (!r) {
        this.loc.delete(a)
        continue
      }
      const l = this.overrides.get(a) ?? this.baseLoc(r)
      this.loc.set(a, l)
      const k = groupKey(l.parent, l.name)
      setAdd(this.groups, k, a)
      this.markLoc(l)
    }
    for (const a of affected) {
      const r = this.raw.get(a)
      if (r && !this.live.has(a) && (!isTombstoned(r) || (this.liveKids.get(a) ?? 0) > 0)) this.attach(a)
    }
  }

  private attach(a: InodeId): void {
    for (let cur: InodeId | undefined = a; cur !== undefined; ) {
      this.live.add(cur)
      const l: Loc = cur === LOST_INO ? { parent: ROOT_ID, name: LOST_FOUND } : this.loc.get(cur)!
      this.markLoc(l)
      const p: InodeId = l.parent
      this.liveKids.set(p, (this.liveKids.get(p) ?? 0) + 1)
      cur = p !== ROOT_ID && !this.live.has(p) && (p === LOST_INO || this.raw.has(p)) ? p : undefined
    }
  }

  private detach(a: InodeId): void {
    for (let cur: InodeId | undefined = a; cur !== undefined; ) {
      this.live.delete(cur)
      const l: Loc = cur === LOST_INO ? { parent: ROOT_ID, name: LOST_FOUND } : this.loc.get(cur)!
      this.markLoc(l)
      const p: InodeId = l.parent
      const n: number = (this.liveKids.get(p) ?? 0) - 1
      if (n > 0) this.liveKids.set(p, n)
      else this.liveKids.delete(p)
      const pr = this.raw.get(p)
      const pTomb = p === LOST_INO || (pr !== undefined && isTombstoned(pr))
      cur = n === 0 && p !== ROOT_ID && this.live.has(p) && pTomb ? p : undefined
    }
  }
}

function setAdd<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k)
  if (s) s.add(v)
  else m.set(k, new Set([v]))
}
