/**
 * Ambient types for `fuse-native` 2.2.x (untyped CommonJS). Only what the
 * adapter in fuse/ uses. Callbacks take a negative errno (or 0) first; `read`
 * and `write` callbacks take the byte count (or a negative errno) alone.
 */
declare module 'fuse-native' {
  type Cb = (err: number) => void
  type CbWith<T> = (err: number, value?: T) => void

  /** What `getattr` and friends hand back; times in ms since the epoch. */
  export interface FuseStat {
    mode: number
    uid: number
    gid: number
    size: number
    nlink: number
    ino?: number
    blksize?: number
    blocks: number
    atime: number
    mtime: number
    ctime: number
  }

  export interface FuseStatfs {
    bsize: number
    frsize: number
    blocks: number
    bfree: number
    bavail: number
    files: number
    ffree: number
    favail: number
    fsid: number
    flag: number
    namemax: number
  }

  export interface FuseOps {
    init?(cb: Cb): void
    statfs?(path: string, cb: CbWith<FuseStatfs>): void
    getattr?(path: string, cb: CbWith<FuseStat>): void
    fgetattr?(path: string, fd: number, cb: CbWith<FuseStat>): void
    readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void
    open?(path: string, flags: number, cb: CbWith<number>): void
    create?(path: string, mode: number, cb: CbWith<number>): void
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void
    flush?(path: string, fd: number, cb: Cb): void
    fsync?(path: string, datasync: number, fd: number, cb: Cb): void
    release?(path: string, fd: number, cb: Cb): void
    truncate?(path: string, size: number, cb: Cb): void
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void
    utimens?(path: string, atime: number, mtime: number, cb: Cb): void
    chmod?(path: string, mode: number, cb: Cb): void
    chown?(path: string, uid: number, gid: number, cb: Cb): void
    mknod?(path: string, mode: number, dev: number, cb: Cb): void
    unlink?(path: string, cb: Cb): void
    rename?(src: string, dest: string, cb: Cb): void
    link?(src: string, dest: string, cb: Cb): void
    symlink?(target: string, path: string, cb: Cb): void
    readlink?(path: string, cb: CbWith<string>): void
    mkdir?(path: string, mode: number, cb: Cb): void
    rmdir?(path: string, cb: Cb): void
  }

  export interface FuseOptions {
    /** false: no per-operation timer (the default answers ETIMEDOUT after 15 s). */
    timeout?: number | false
    force?: boolean
    mkdir?: boolean
    debug?: boolean
  }

  class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions)
    readonly mnt: string
    mount(cb: (err: Error | null) => void): void
    unmount(cb: (err: Error | null) => void): void
    /** The `-o...` option string handed to libfuse (overridable). */
    _fuseOptions(): string
    /** Unmount step of `unmount()` (overridable): fusermount, then the native unmount. */
    _close(cb: (err: Error | null) => void): void
    /** The native mount state (a buffer the binding owns). */
    _thread: Buffer | null
    static unmount(mnt: string, cb: (err: Error | null) => void): void
    static readonly EPERM: number
    static readonly ENOENT: number
    static readonly EIO: number
    static readonly ENOSYS: number
  }
  export default Fuse
}
