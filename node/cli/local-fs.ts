/**
 * The local filesystem calls `put` makes, behind an interface so tests can
 * change the disk between the walk and the read (a file that vanishes or
 * changes mid-`put -r`).
 */
import { constants } from 'node:fs'
import * as fsp from 'node:fs/promises'

export interface LocalStats {
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
  mode: number
  size: number
  mtimeMs: number
  ino: number
  dev: number
}

export interface LocalFile {
  stat(): Promise<LocalStats>
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
  close(): Promise<void>
}

export interface LocalFs {
  lstat(path: string): Promise<LocalStats>
  stat(path: string): Promise<LocalStats>
  readdir(path: string): Promise<string[]>
  readlink(path: string): Promise<string>
  /** Open for reading without following a final symlink and without blocking on a FIFO. */
  open(path: string): Promise<LocalFile>
}

export const nodeFs: LocalFs = {
  lstat: (p) => fsp.lstat(p),
  stat: (p) => fsp.stat(p),
  readdir: (p) => fsp.readdir(p),
  readlink: (p) => fsp.readlink(p),
  open: (p) => fsp.open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK),
}

/** A file changed while it was being read (its bytes would be a mix). */
export class ChangedWhileReading extends Error {
  override name = 'ChangedWhileReading'
}

const READ_SIZE = 1024 * 1024

/**
 * Stream an open regular file. Throws `ChangedWhileReading` at the end when
 * its size or mtime moved while it was read, so the caller's write (which
 * consumes this stream) fails and the tree keeps the previous content.
 */
export async function* readLocalFile(
  file: LocalFile,
  before: LocalStats,
  onBytes?: (n: number) => void,
): AsyncGenerator<Uint8Array> {
  let pos = 0
  for (;;) {
    const buf = new Uint8Array(READ_SIZE)
    const { bytesRead } = await file.read(buf, 0, READ_SIZE, pos)
    if (bytesRead === 0) break
    pos += bytesRead
    onBytes?.(bytesRead)
    yield bytesRead === READ_SIZE ? buf : buf.subarray(0, bytesRead)
  }
  const after = await file.stat()
  if (pos !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs)
    throw new ChangedWhileReading('changed while being read')
}
