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
