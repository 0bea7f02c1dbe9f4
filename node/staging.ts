/**
 * Staging areas for open files: where a handle's uncommitted writes live
 * until commit ("branch on write, merge on close"). A staging file is sparse
 * and addressed by the file's own offsets, so extent bookkeeping stays in the
 * branch (node/branch.ts) and never needs a translation table.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { type FileHandle, open, unlink } from 'node:fs/promises'
import { join } from 'node:path'

/** One sparse scratch file. Offsets never written read as zeros. */
export interface StagingFile {
  write(offset: number, data: Uint8Array): Promise<void>
  /** Exactly `length` bytes; holes and bytes past the end read as zeros. */
  read(offset: number, length: number): Promise<Uint8Array>
  /** Forget everything at or beyond `size` (frees space; reads there give zeros). */
  truncate(size: number): Promise<void>
  /** Discard the file and its space. Idempotent. */
  close(): Promise<void>
}

/** A place to create staging files. */
export interface Staging {
  create(): Promise<StagingFile>
  /** Bytes currently held by live staging files (memory variant) or undefined when unknown. */
  readonly heldBytes?: number
  close(): Promise<void>
}

/**
 * Sparse temporary files in a directory. Each file is unlinked right after it
 * is opened, so a crash cannot leave it behind; files left by older versions
 * or other tools in the directory are removed when the staging area opens.
 */
export class DiskStaging implements Staging {
  private seq = 0
  private readonly live = new Set<DiskStagingFile>()

  private constructor(private readonly dir: string) {}

  /** Open (creating if needed) a staging directory and clear stale files from it. */
  static open(dir: string): DiskStaging {
    mkdirSync(dir, { recursive: true })
    for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true })
    return new DiskStaging(dir)
  }

  async create(): Promise<StagingFile> {
    const path = join(this.dir, `stage-${process.pid}-${++this.seq}`)
    const fh = await open(path, 'w+', 0o600)
    await unlink(path)
    const file = new DiskStagingFile(fh, () => this.live.delete(file))
    this.live.add(file)
    return file
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((f) => f.close()))
  }
}

class DiskStagingFile implements StagingFile {
  private closed = false

  constructor(
    private readonly fh: FileHandle,
    private readonly onClose: () => void,
  ) {}

  async write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done)
      done += bytesWritten
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length)
    let done = 0
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done)
      if (bytesRead === 0) break // past the end: the rest stays zero
      done += bytesRead
    }
    return buf
  }

  async truncate(size: number): Promise<void> {
    const { size: cur } = await this.fh.stat()
    if (cur > size) await this.fh.truncate(size)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    await this.fh.close()
  }
}

/**
 * Small branches in memory, large ones on disk: a staging file starts in
 * memory and moves to a `DiskStaging` file once its highest written offset
 * passes `spillAt` bytes, or once all in-memory files together would exceed
 * `budget`. Most files are small; this spares them a temp file's syscalls.
 */
export class SpillStaging implements Staging {
  private held = 0
  private readonly memory = new MemoryStaging()

  constructor(
    private readonly disk: DiskStaging,
    private readonly spillAt = 1024 * 1024,
    private readonly budget = 64 * 1024 * 1024,
  ) {}

  /** Bytes of in-memory staging accounted (highest offsets written). */
  get heldBytes(): number {
    return this.held
  }

  async create(): Promise<StagingFile> {
    return new SpillFile(this, await this.memory.create())
  }

  /** Whether a memory file may grow to `end` bytes (`growth` more than it holds now). */
  mayHold(end: number, growth: number): boolean {
    return end <= this.spillAt && this.held + growth <= this.budget
  }

  account(delta: number): void {
    this.held += delta
  }

  spillTarget(): Promise<StagingFile> {
    return this.disk.create()
  }

  async close(): Promise<void> {
    await this.disk.close()
  }
}

class SpillFile implements StagingFile {
  private onDisk: StagingFile | undefined
  /** Highest offset written while in memory (its memory accounting). */
  private end = 0

  constructor(
    private readonly owner: SpillStaging,
    private readonly mem: StagingFile,
  ) {}

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!this.onDisk) {
      const end = Math.max(this.end, offset + data.length)
      if (this.owner.mayHold(end, end - this.end)) {
        this.owner.account(end - this.end)
        this.end = end
        return this.mem.write(offset, data)
      }
      await this.spill()
    }
    return this.onDisk!.write(offset, data)
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return (this.onDisk ?? this.mem).read(offset, length)
  }

  async truncate(size: number): Promise<void> {
    await (this.onDisk ?? this.mem).truncate(size)
  }

  async close(): Promise<void> {
    await this.onDisk?.close()
    await this.release()
  }

  /** Copy the memory contents to a disk file (in pieces) and continue there. */
  private async spill(): Promise<void> {
    const disk = await this.owner.spillTarget()
    const piece = 1024 * 1024
    for (let off = 0; off < this.end; off += piece) {
      const data = await this.mem.read(off, Math.min(piece, this.end - off))
      // Holes stay holes: skip all-zero pieces.
      if (data.some((b) => b !== 0)) await disk.write(off, data)
    }
    this.onDisk = disk
    await this.release()
  }

  private async release(): Promise<void> {
    this.owner.account(-this.end)
    this.end = 0
    await this.mem.close()
  }
}

const PAGE = 64 * 1024

/** Staging in memory, in 64 KiB pages allocated on first write (the simulator's variant). */
export class MemoryStaging implements Staging {
  private held = 0

  get heldBytes(): number {
    return this.held
  }

  async create(): Promise<StagingFile> {
    return new MemoryStagingFile((delta) => {
      this.held += delta
    })
  }

  async close(): Promise<void> {}
}

class MemoryStagingFile implements StagingFile {
  private pages = new Map<number, Uint8Array>()

  constructor(private readonly account: (delta: number) => void) {}

  async write(offset: number, data: Uint8Array): Promise<void> {
    let pos = 0
    while (pos < data.length) {
      const at = offset + pos
      const index = Math.floor(at / PAGE)
      const within = at - index * PAGE
      const n = Math.min(PAGE - within, data.length - pos)
      let page = this.pages.get(index)
      if (!page) {
        page = new Uint8Array(PAGE)
        this.pages.set(index, page)
        this.account(PAGE)
      }
      page.set(data.subarray(pos, pos + n), within)
      pos += n
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length)
    let pos = 0
    while (pos < length) {
      const at = offset + pos
      const index = Math.floor(at / PAGE)
      const within = at - index * PAGE
      const n = Math.min(PAGE - within, length - pos)
      const page = this.pages.get(index)
      if (page) out.set(page.subarray(within, within + n), pos)
      pos += n
    }
    return out
  }

  async truncate(size: number): Promise<void> {
    for (const [index, page] of this.pages) {
      const start = index * PAGE
      if (start >= size) {
        this.pages.delete(index)
        this.account(-PAGE)
      } else if (start + PAGE > size) {
        page.fill(0, size - start)
      }
    }
  }

  async close(): Promise<void> {
    this.account(-PAGE * this.pages.size)
    this.pages.clear()
  }
}
