/**
 * Append-only pack files: chunk bytes stored outside SQLite, one file per
 * ~64 MiB of chunks (`<dir>/<n>.pack`), located by index rows the backend
 * keeps in SQLite (id → pack, offset, length).
 *
 * Why: 64 KiB blobs inline in a WAL database are written twice (WAL, then the
 * checkpoint) and synced in the writer's thread; sustained over 1 GiB that
 * measured ~120 MB/s here, a pack file with one fdatasync per 8 MiB ~350 MB/s
 * at a quarter of the CPU (docs/PERFORMANCE.md).
 *
 * Crash rule (the backend's side of it): bytes are appended and fdatasync'd
 * BEFORE the index rows naming them commit, so an index row never names bytes
 * a crash or power loss could lose. Bytes no committed row names are garbage:
 * a pack's tail past its last indexed byte is cut off on open (writes killed
 * before their index commit), packs no row names are deleted then. Space
 * inside a pack freed by gc is reclaimed when the whole pack is dead.
 *
 * Only this process writes the packs of a store (one daemon per data dir).
 * Appends reserve their range synchronously, so concurrent writes never
 * overlap; a new pack is started on every open (old packs are never appended
 * to again, which keeps the tail rule simple).
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  unlinkSync,
  writev,
  writevSync,
} from 'node:fs'
import { join } from 'node:path'
import { StoreError } from './types.js'

/** Where a chunk's bytes are. */
export interface PackLocation {
  pack: number
  offset: number
  length: number
}

/** A pack grows to about this size before the next one starts (it may exceed it by one batch). */
export const PACK_TARGET_BYTES = 64 * 1024 * 1024

const PACK_RE = /^(\d+)\.pack$/

/** writev takes at most IOV_MAX (1024 on Linux) buffers per call. */
const IOV_MAX = 1024

export class PackFiles {
  private readonly fds = new Map<number, number>()
  /** Appends under way per pack (a pack with writes in flight is never deleted). */
  private readonly writing = new Map<number, number>()
  private current: number
  private end = 0
  private closed = false

  /**
   * Open the packs in `dir` (created if absent). `liveEnds` says, per pack,
   * where its last indexed chunk ends (from the committed index): longer packs
   * are cut back to it, packs absent from it are deleted.
   */
  constructor(
    readonly dir: string,
    liveEnds: ReadonlyMap<number, number>,
  ) {
    mkdirSync(dir, { recursive: true })
    let max = 0
    for (const name of readdirSync(dir)) {
      const m = PACK_RE.exec(name)
      if (!m) continue
      const pack = Number(m[1])
      max = Math.max(max, pack)
      const live = liveEnds.get(pack)
      const path = join(dir, name)
      if (live === undefined) {
        unlinkSync(path)
        continue
      }
      const fd = openSync(path, 'r+')
      this.fds.set(pack, fd)
      if (fstatSync(fd).size > live) {
        ftruncateSync(fd, live)
        fdatasyncSync(fd)
      }
    }
    // A pack the index names but the disk lacks (lost by hand): its chunks read as EIO, so
    // verify reports them corrupt and peers can repair them; the store still opens.
    for (const pack of liveEnds.keys()) max = Math.max(max, pack)
    this.current = max + 1
  }

  /** Append stored chunks; resolves with their locations once they are durable (fdatasync). */
  async append(datas: readonly Uint8Array[]): Promise<PackLocation[]> {
    const { pack, fd, locs, total } = this.reserve(datas)
    try {
      let o = 0
      for (let i = 0; i < datas.length; i += IOV_MAX) {
        const part = datas.slice(i, i + IOV_MAX) as Uint8Array[]
        const want = part.reduce((n, d) => n + d.length, 0)
        const wrote = await new Promise<number>((resolve, reject) =>
          writev(fd, part, locs[0]!.offset + o, (err, n) => (err ? reject(err) : resolve(n))),
        )
        if (wrote !== want) await this.rest(fd, part, locs[0]!.offset + o, wrote)
        o += want
      }
      if (o !== total) throw new StoreError('EIO', `pack ${pack}: wrote ${o} of ${total} bytes`)
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())))
      return locs
    } finally {
      this.done(pack)
    }
  }

  /** `append`, blocking the thread (callers that must stay synchronous). */
  appendSync(datas: readonly Uint8Array[]): PackLocation[] {
    const { pack, fd, locs } = this.reserve(datas)
    try {
      let o = locs[0]?.offset ?? 0
      for (let i = 0; i < datas.length; i += IOV_MAX) {
        const part = datas.slice(i, i + IOV_MAX) as Uint8Array[]
        const want = part.reduce((n, d) => n + d.length, 0)
        const wrote = writevSync(fd, part, o)
        if (wrote !== want) this.restSync(fd, part, o, wrote)
        o += want
      }
      fdatasyncSync(fd)
      return locs
    } finally {
      this.done(pack)
    }
  }

  /** The bytes at `loc` (a fresh buffer); EIO when the pack is shorter than the index says. */
  read(loc: PackLocation): Buffer {
    this.check()
    const fd = this.fds.get(loc.pack)
    if (fd === undefined) throw new StoreError('EIO', `pack ${loc.pack} is missing`)
    const out = Buffer.allocUnsafeSlow(loc.length)
    let o = 0
    while (o < loc.length) {
      const n = readSync(fd, out, o, loc.length - o, loc.offset + o)
      if (n === 0)
        throw new StoreError('EIO', `pack ${loc.pack} ends before offset ${loc.offset + loc.length}`)
      o += n
    }
    return out
  }

  /**
   * Delete a pack no committed index row names any more (the caller's
   * metadata commit is durable). The pack being filled and packs with writes
   * in flight stay.
   */
  remove(pack: number): void {
    if (pack === this.current || this.writing.has(pack)) return
    const fd = this.fds.get(pack)
    if (fd === undefined) return
    this.fds.delete(pack)
    closeSync(fd)
    unlinkSync(join(this.dir, `${pack}.pack`))
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const fd of this.fds.values()) closeSync(fd)
    this.fds.clear()
  }

  private reserve(datas: readonly Uint8Array[]): {
    pack: number
    fd: number
    locs: PackLocation[]
    total: number
  } {
    this.check()
    if (this.end >= PACK_TARGET_BYTES) {
      this.current++
      this.end = 0
    }
    const pack = this.current
    let fd = this.fds.get(pack)
    if (fd === undefined) {
      fd = openSync(join(this.dir, `${pack}.pack`), 'w+')
      this.fds.set(pack, fd)
    }
    const locs: PackLocation[] = []
    let total = 0
    for (const d of datas) {
      locs.push({ pack, offset: this.end + total, length: d.length })
      total += d.length
    }
    this.end += total
    this.writing.set(pack, (this.writing.get(pack) ?? 0) + 1)
    return { pack, fd, locs, total }
  }

  private done(pack: number): void {
    const n = (this.writing.get(pack) ?? 1) - 1
    if (n > 0) this.writing.set(pack, n)
    else this.writing.delete(pack)
  }

  /** Finish a short writev (rare: signals, full disk). */
  private async rest(fd: number, part: Uint8Array[], at: number, wrote: number): Promise<void> {
    const flat = Buffer.concat(part).subarray(wrote)
    let o = 0
    while (o < flat.length) {
      const n = await new Promise<number>((resolve, reject) =>
        writev(fd, [flat.subarray(o)], at + wrote + o, (err, k) => (err ? reject(err) : resolve(k))),
      )
      if (n === 0) throw new StoreError('EIO', 'pack write made no progress')
      o += n
    }
  }

  private restSync(fd: number, part: Uint8Array[], at: number, wrote: number): void {
    const flat = Buffer.concat(part).subarray(wrote)
    let o = 0
    while (o < flat.length) {
      const n = writevSync(fd, [flat.subarray(o)], at + wrote + o)
      if (n === 0) throw new StoreError('EIO', 'pack write made no progress')
      o += n
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError('ECLOSED', 'pack files are closed')
  }
}
