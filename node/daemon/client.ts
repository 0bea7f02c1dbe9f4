/**
 * `RemoteApi`: the NodeApi of a running daemon, over its Unix socket. Each
 * call takes an idle connection or opens one, so concurrent calls (and a
 * download being read while other calls are made) never wait on each other.
 */

import type { Conflict, HistoryEntry } from '../../sync/types.js'
import type {
  DfReport,
  GcResult,
  MountInfo,
  NodeApi,
  NodeStatus,
  ReadOptions,
  RemoveOptions,
  TreeInfo,
  VerifyResult,
} from '../api-types.js'
import { NodeError } from '../node-error.js'
import type {
  InviteOptions,
  InviteResult,
  JoinOptions,
  MemberInfo,
  PeerReport,
  PinInfo,
  SyncStatusReport,
} from '../sync-api.js'
import type { Attr, DirEntry, WriteFileOptions } from '../volume-types.js'
import { ClientConnection, type ServerHello } from './connection.js'
import type { Method } from './methods.js'

/** Idle connections kept for reuse; more are closed when released. */
const MAX_IDLE = 4

/** The NodeApi of a running daemon (`remote` is always true). */
export class RemoteApi implements NodeApi {
  readonly remote = true
  private readonly idle: ClientConnection[] = []
  private readonly open = new Set<ClientConnection>()
  private closed = false

  private constructor(
    /** Unix socket of the daemon. */
    readonly socket: string,
    first: ClientConnection,
    private readonly timeoutMs: number,
  ) {
    this.open.add(first)
    this.idle.push(first)
    this.hello = first.hello!
  }

  /** What the daemon said about itself when we connected. */
  readonly hello: ServerHello

  /** Connect to the daemon listening on `socket` (NodeError EDAEMON if it does not answer). */
  static async connect(socket: string, timeoutMs = 5000): Promise<RemoteApi> {
    return new RemoteApi(socket, await ClientConnection.open(socket, timeoutMs), timeoutMs)
  }

  status(): Promise<NodeStatus> {
    return this.call('status', []) as Promise<NodeStatus>
  }
  treeCreate(name: string): Promise<TreeInfo> {
    return this.call('treeCreate', [name]) as Promise<TreeInfo>
  }
  treeList(): Promise<TreeInfo[]> {
    return this.call('treeList', []) as Promise<TreeInfo[]>
  }
  stat(tree: string, path: string): Promise<Attr> {
    return this.call('stat', [tree, path]) as Promise<Attr>
  }
  async ls(
    tree: string,
    path: string,
    cursor?: string,
    limit?: number,
  ): Promise<{ entries: DirEntry[]; cursor?: string }> {
    const r = (await this.call('ls', [tree, path, cursor, limit])) as { entries: DirEntry[]; cursor?: string }
    // JSON cannot say `undefined`; keep the shape LocalNode returns.
    if (r.cursor === null) delete r.cursor
    return r
  }
  mkdir(tree: string, path: string, opts?: { parents?: boolean; mode?: number }): Promise<Attr> {
    return this.call('mkdir', [tree, path, opts]) as Promise<Attr>
  }
  async mv(tree: string, from: string, to: string): Promise<void> {
    await this.call('mv', [tree, from, to])
  }
  async rm(tree: string, path: string, opts?: RemoveOptions): Promise<void> {
    await this.call('rm', [tree, path, opts])
  }
  symlink(tree: string, target: string, path: string): Promise<Attr> {
    return this.call('symlink', [tree, target, path]) as Promise<Attr>
  }
  readlink(tree: string, path: string): Promise<string> {
    return this.call('readlink', [tree, path]) as Promise<string>
  }

  async writeFile(
    tree: string,
    path: string,
    source: AsyncIterable<Uint8Array>,
    opts?: WriteFileOptions,
  ): Promise<Attr> {
    const c = await this.acquire()
    try {
      return (await c.upload('writeFile', [tree, path, opts], source)) as Attr
    } finally {
      this.release(c)
    }
  }

  readFile(tree: string, path: string, opts?: ReadOptions): AsyncIterable<Uint8Array> {
    const self = this
    return {
      async *[Symbol.asyncIterator]() {
        const c = await self.acquire()
        try {
          yield* c.download('readFile', [tree, path, opts])
        } finally {
          self.release(c)
        }
      },
    }
  }

  log(tree: string, path?: string, limit?: number): Promise<HistoryEntry[]> {
    return this.call('log', [tree, path, limit]) as Promise<HistoryEntry[]>
  }
  conflicts(tree: string): Promise<Conflict[]> {
    return this.call('conflicts', [tree]) as Promise<Conflict[]>
  }
  async resolve(tree: string, path: string, keepVersion: string): Promise<void> {
    await this.call('resolve', [tree, path, keepVersion])
  }
  df(): Promise<DfReport> {
    return this.call('df', []) as Promise<DfReport>
  }
  verify(): Promise<VerifyResult> {
    return this.call('verify', []) as Promise<VerifyResult>
  }
  gc(): Promise<GcResult> {
    return this.call('gc', []) as Promise<GcResult>
  }

  invite(tree: string, opts?: InviteOptions): Promise<InviteResult> {
    return this.call('invite', [tree, opts]) as Promise<InviteResult>
  }
  join(ticket: string, opts?: JoinOptions): Promise<TreeInfo> {
    return this.call('join', [ticket, opts]) as Promise<TreeInfo>
  }
  members(tree: string): Promise<MemberInfo[]> {
    return this.call('members', [tree]) as Promise<MemberInfo[]>
  }
  async removeMember(tree: string, node: string): Promise<void> {
    await this.call('removeMember', [tree, node])
  }
  peers(): Promise<PeerReport[]> {
    return this.call('peers', []) as Promise<PeerReport[]>
  }
  syncStatus(): Promise<SyncStatusReport> {
    return this.call('syncStatus', []) as Promise<SyncStatusReport>
  }
  pin(tree: string, path: string): Promise<boolean> {
    return this.call('pin', [tree, path]) as Promise<boolean>
  }
  unpin(tree: string, path: string): Promise<boolean> {
    return this.call('unpin', [tree, path]) as Promise<boolean>
  }
  pins(tree: string): Promise<PinInfo[]> {
    return this.call('pins', [tree]) as Promise<PinInfo[]>
  }

  mount(tree: string, dir: string): Promise<MountInfo> {
    return this.call('mount', [tree, dir]) as Promise<MountInfo>
  }
  async unmount(dir: string, opts?: { lazy?: boolean }): Promise<void> {
    await this.call('unmount', [dir, opts])
  }

  /** Ask the daemon to stop (it answers, then stops gracefully). */
  async shutdown(): Promise<void> {
    await this.call('shutdown', [])
  }

  /** Close every connection of this handle (the daemon keeps running). Idempotent. */
  async close(): Promise<void> {
    this.closed = true
    this.idle.length = 0
    await Promise.all([...this.open].map((c) => c.close()))
    this.open.clear()
  }

  private async call(method: Method, params: unknown[]): Promise<unknown> {
    const c = await this.acquire()
    try {
      return await c.call(method, params)
    } finally {
      this.release(c)
    }
  }

  private async acquire(): Promise<ClientConnection> {
    if (this.closed) throw new NodeError('ECLOSED', this.socket, 'this local API handle is closed')
    for (;;) {
      const c = this.idle.pop()
      if (!c) break
      if (!c.closed) return c
      this.open.delete(c)
    }
    const c = await ClientConnection.open(this.socket, this.timeoutMs)
    if (this.closed) {
      await c.close()
      throw new NodeError('ECLOSED', this.socket, 'this local API handle is closed')
    }
    this.open.add(c)
    return c
  }

  private release(c: ClientConnection): void {
    if (c.closed) {
      this.open.delete(c)
      return
    }
    if (this.closed || this.idle.length >= MAX_IDLE) {
      this.open.delete(c)
      void c.close()
      return
    }
    this.idle.push(c)
  }
}
