/**
 * End-to-end harness: real `bt up` processes, each with its own data dir,
 * driven through the real `bt` command line, on loopback only.
 *
 * - `Cluster.start(t, { transport })` makes a temporary workspace (and, for
 *   Hyperswarm, a local hyperdht testnet to bootstrap from); `cluster.add()`
 *   initialises a data dir; `node.up()` spawns `bt up` in the foreground and
 *   waits until its local API answers.
 * - `node.bt(...)` / `node.ok(...)` / `node.json(...)` run `bt --home H ...`.
 * - `poll()` retries a check until it holds, with generous timeouts (a loaded
 *   2-core machine) but returning as soon as it is true.
 * - `snapshot()` reads a tree as the node serves it (every path, kind, mode,
 *   size, mtime, content hash), to compare replicas.
 * - Teardown kills every process still running (SIGKILL) and removes the
 *   workspace; `cluster.run(fn)` adds each daemon's log to the error of a
 *   failing test, so a failure says what the nodes were doing.
 *
 * Transport choice: `bt up --transport iroh|hyperswarm|iroh,hyperswarm`, and
 * when Hyperswarm runs, `bt up --bootstrap HOST:PORT` pointing at the local
 * testnet.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import type { NodeApi } from '../../node/api-types.js'
import { daemonInfo } from '../../node/daemon/index.js'
import { openApi } from '../../node/daemon/open-api.js'
import type { Teardown } from '../helpers/tmp.js'

export const BT = fileURLToPath(new URL('../../node/cli/main.js', import.meta.url))

/** Which transports the daemons run: one alone, or both (then large transfers may pick Hyperswarm). */
export type TransportChoice = 'iroh' | 'hyperswarm' | 'both'

/** Default wait for anything that crosses processes (start, connect, converge). */
export const WAIT_MS = 60_000

/** What a `bt` command reads on stdin. */
export type BtInput = string | Uint8Array | AsyncIterable<Uint8Array>

export interface BtResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** The environment of every bt process: loopback only, nothing inherited that selects a data dir. */
export function btEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.BT_HOME
  delete env.BT_DEBUG
  return { ...env, BT_NETWORK: 'loopback', ...extra }
}

/** Run `bt` with `args` (asynchronously, so daemons and the testnet keep running in this process). */
export function runBt(
  args: string[],
  o: {
    env?: NodeJS.ProcessEnv
    /** stdin: bytes, or a stream piped with backpressure (a large source never held in memory). */
    input?: BtInput
    /** Takes stdout as it comes instead of collecting it (a large output never held in memory). */
    onStdout?: (data: Buffer) => void
    timeoutMs?: number
    /** Holds the process while it runs (so a teardown can end it before removing its data dir). */
    running?: Map<ChildProcess, Promise<void>>
  } = {},
): Promise<BtResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BT, ...args], {
      env: btEnv(o.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    if (o.running) {
      const running = o.running
      running.set(
        p,
        new Promise((r) =>
          p.on('close', () => {
            running.delete(p)
            r()
          }),
        ),
      )
    }
    let stdout = ''
    let stderr = ''
    const onStdout = o.onStdout
    if (onStdout) p.stdout.on('data', (d: Buffer) => onStdout(d))
    else p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      stderr += `\n[harness: bt ${args.join(' ')} killed after ${o.timeoutMs ?? WAIT_MS} ms]`
      p.kill('SIGKILL')
    }, o.timeoutMs ?? WAIT_MS)
    p.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    const t0 = Date.now()
    p.on('close', (status, signal) => {
      clearTimeout(timer)
      if (process.env.BT_E2E_TRACE)
        process.stderr.write(
          `[e2e ${new Date().toISOString()}] ${Date.now() - t0} ms: bt ${args.join(' ').slice(0, 160)}\n`,
        )
      resolve({ status, signal, stdout, stderr })
    })
    p.stdin.on('error', () => {}) // a command that exits before reading its input
    const input = o.input ?? ''
    if (typeof input === 'string' || input instanceof Uint8Array) p.stdin.end(input)
    else pipeline(Readable.from(input), p.stdin).catch(() => {}) // the exit status tells
  })
}

function explain(args: string[], r: BtResult): string {
  return `bt ${args.join(' ')} exited ${r.status ?? r.signal}\nstdout: ${r.stdout.slice(0, 4000)}\nstderr: ${r.stderr.slice(0, 4000)}`
}

/**
 * Retry `check` until it returns a value other than undefined/false; fails
 * with `what` and the last value or error after `timeoutMs`.
 */
export async function poll<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  o: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const end = Date.now() + (o.timeoutMs ?? WAIT_MS)
  let interval = o.intervalMs ?? 100
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
      last = v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last)
      throw new Error(`timed out after ${o.timeoutMs ?? WAIT_MS} ms waiting for ${what} (last: ${detail})`)
    }
    await sleep(interval)
    interval = Math.min(interval * 1.5, 1000)
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** One data dir and, while it is up, its `bt up` process. */
export class BtNode {
  /** Node id (64 hex), printed by `bt init`. */
  nodeId = ''
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private readonly logLines: string[] = []
  private logFile: WriteStream | undefined
  /** How many times `up()` ran (log sections are numbered by it). */
  starts = 0

  constructor(
    readonly cluster: Cluster,
    readonly name: string,
    readonly home: string,
  ) {}

  /** `bt --home H ...args`. */
  bt(
    args: string[],
    o: { input?: BtInput; onStdout?: (d: Buffer) => void; timeoutMs?: number } = {},
  ): Promise<BtResult> {
    return runBt(['--home', this.home, ...args], { ...o, running: this.cluster.commands })
  }

  /** `bt --home H ...args`; fails unless it exits 0; resolves to stdout. */
  async ok(
    args: string[],
    o: { input?: BtInput; onStdout?: (d: Buffer) => void; timeoutMs?: number } = {},
  ): Promise<string> {
    const r = await this.bt(args, o)
    if (r.status !== 0) throw new Error(`[${this.name}] ${explain(args, r)}`)
    return r.stdout
  }

  /** `bt --home H --json ...args`, parsed. */
  async json<T = unknown>(args: string[], o: { input?: string | Uint8Array } = {}): Promise<T> {
    const out = await this.ok(['--json', ...args], o)
    try {
      return JSON.parse(out) as T
    } catch {
      throw new Error(`[${this.name}] bt --json ${args.join(' ')}: not JSON: ${out.slice(0, 2000)}`)
    }
  }

  /** `bt init --key-protection none`; records the node id. */
  async init(): Promise<void> {
    this.nodeId = (await this.ok(['init', '--key-protection', 'none'])).trim()
    if (!/^[0-9a-f]{64}$/.test(this.nodeId)) throw new Error(`[${this.name}] bt init printed ${this.nodeId}`)
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Spawn `bt up` in the foreground and wait until its local API answers. */
  async up(extraArgs: string[] = []): Promise<void> {
    if (this.running) throw new Error(`[${this.name}] already up`)
    this.starts++
    const args = ['--home', this.home, 'up', ...this.cluster.upArgs(), ...extraArgs]
    this.note(`--- bt ${args.join(' ')} (start ${this.starts})`)
    const child = spawn(process.execPath, [BT, ...args], {
      env: btEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    const take = (d: string) => {
      for (const line of d.split('\n')) if (line) this.note(line)
    }
    child.stdout!.setEncoding('utf8').on('data', take)
    child.stderr!.setEncoding('utf8').on('data', take)
    this.exited = new Promise((r) =>
      child.on('close', (code, signal) => {
        this.note(`--- exited ${code ?? signal}`)
        r()
      }),
    )
    await poll(
      `${this.name}: bt up to serve`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`bt up exited ${child.exitCode ?? child.signalCode} before serving`)
        const info = await daemonInfo(this.home, 2000)
        return info?.pid === child.pid ? info : undefined
      },
      { timeoutMs: WAIT_MS },
    )
  }

  /** SIGTERM and wait for the process to exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.child
    if (!child || !this.running) return this.exited
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(t)
  }

  /** SIGKILL (a crash) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.child && this.running) this.child.kill('SIGKILL')
    await this.exited
  }

  /** The node's API (its daemon's when up, else its data dir in this process); closed after `fn`. */
  async withApi<T>(fn: (api: NodeApi) => Promise<T>): Promise<T> {
    const api = await openApi({ home: this.home, lockWaitMs: 10_000 })
    try {
      return await fn(api)
    } finally {
      await api.close()
    }
  }

  /** Everything this node's daemons logged, plus the harness's notes. */
  log(): string {
    return this.logLines.join('\n')
  }

  /** Log lines matching `re`. */
  grep(re: RegExp): string[] {
    return this.logLines.filter((l) => re.test(l))
  }

  private note(line: string): void {
    this.logLines.push(line)
    if (!this.logFile) {
      mkdirSync(this.cluster.logDir, { recursive: true })
      this.logFile = createWriteStream(join(this.cluster.logDir, `${this.name}.log`), { flags: 'a' })
    }
    this.logFile.write(`${line}\n`)
  }

  /** Kill the process if still running and close the log file. */
  async dispose(): Promise<void> {
    await this.kill()
    await new Promise<void>((r) => (this.logFile ? this.logFile.end(r) : r()))
  }
}

interface Testnet {
  bootstrap: { host: string; port: number }[]
  destroy(): Promise<void>
}

/** A local hyperdht bootstrap network on 127.0.0.1 (for Hyperswarm runs: no public DHT). */
export async function startTestnet(size = 3): Promise<Testnet> {
  const require = createRequire(import.meta.url)
  const createTestnet = require('hyperdht/testnet') as (n: number, o: { host: string }) => Promise<Testnet>
  return createTestnet(size, { host: '127.0.0.1' })
}

export interface ClusterOptions {
  transport: TransportChoice
}

/** Nodes of one test, their workspace and (Hyperswarm) the testnet they bootstrap from. */
export class Cluster {
  readonly nodes: BtNode[] = []
  /** `bt` commands running now (ended before the workspace is removed). */
  readonly commands = new Map<ChildProcess, Promise<void>>()
  readonly dir: string
  readonly logDir: string
  private testnet: Testnet | undefined

  private constructor(
    readonly transport: TransportChoice,
    prefix: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), prefix))
    this.logDir = join(this.dir, 'logs')
  }

  /** A workspace (and a testnet for Hyperswarm) torn down after the test. */
  static async start(t: Teardown, o: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(o.transport, `bt-e2e-${o.transport}-`)
    t.after(() => c.teardown())
    if (o.transport !== 'iroh') c.testnet = await startTestnet()
    return c
  }

  /** Extra `bt up` arguments every node gets (its transports, the testnet bootstrap). */
  upArgs(): string[] {
    const transport = this.transport === 'both' ? 'iroh,hyperswarm' : this.transport
    const boot = this.testnet?.bootstrap ?? []
    return ['--transport', transport, ...boot.flatMap((b) => ['--bootstrap', `${b.host}:${b.port}`])]
  }

  /** A new initialised data dir (not started). */
  async add(name: string): Promise<BtNode> {
    const n = new BtNode(this, name, join(this.dir, name))
    this.nodes.push(n)
    await n.init()
    return n
  }

  /** `add` + `up` for each name, in parallel. */
  async addUp(...names: string[]): Promise<BtNode[]> {
    const ns = await Promise.all(names.map((n) => this.add(n)))
    await Promise.all(ns.map((n) => n.up()))
    return ns
  }

  /**
   * Run a test body; when it fails, the error carries the tail of every
   * node's log (the full logs are in `logDir` until teardown).
   */
  async run(body: () => Promise<void>): Promise<void> {
    try {
      await body()
    } catch (e) {
      const logs = this.nodes.map(
        (n) => `=== log of ${n.name} (${n.nodeId.slice(0, 12)}) ===\n${tail(n.log(), 120)}`,
      )
      const err = e instanceof Error ? e : new Error(String(e))
      err.message += `\n\n${logs.join('\n\n')}`
      throw err
    }
  }

  async teardown(): Promise<void> {
    // A command still running (its test failed meanwhile) would recreate files in the workspace.
    for (const p of this.commands.keys()) p.kill('SIGKILL')
    await Promise.all(this.commands.values())
    await Promise.all(this.nodes.map((n) => n.dispose()))
    await this.testnet?.destroy().catch(() => {})
    if (process.env.BT_E2E_KEEP) process.stderr.write(`kept ${this.dir}\n`)
    else rmSync(this.dir, { recursive: true, force: true })
  }
}

function tail(text: string, lines: number): string {
  const all = text.split('\n')
  return (all.length > lines ? [`... (${all.length - lines} earlier lines)`] : [])
    .concat(all.slice(-lines))
    .join('\n')
}

/** One path of a tree as a replica serves it. */
export interface SnapEntry {
  kind: 'file' | 'dir' | 'symlink'
  /** Inode id (the same on every replica). */
  id: string
  mode: number
  size: number
  mtime: number
  /** sha256 of the content (files) or the link target (symlinks). */
  content?: string
}

/** Every path of `tree` on `node` with its attributes and content hash, sorted by path. */
export async function snapshot(node: BtNode, tree: string): Promise<Record<string, SnapEntry>> {
  return node.withApi(async (api) => {
    const out: Record<string, SnapEntry> = {}
    const walk = async (dir: string) => {
      let cursor: string | undefined
      do {
        const page = await api.ls(tree, dir, cursor)
        for (const e of page.entries) {
          const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`
          const a = e.attr
          const entry: SnapEntry = { kind: a.kind, id: a.id, mode: a.mode, size: a.size, mtime: a.mtime }
          if (a.kind === 'file') {
            const h = createHash('sha256')
            for await (const c of api.readFile(tree, path)) h.update(c)
            entry.content = h.digest('hex')
          } else if (a.kind === 'symlink') {
            entry.content = createHash('sha256')
              .update(await api.readlink(tree, path))
              .digest('hex')
          }
          out[path] = entry
          if (a.kind === 'dir') await walk(path)
        }
        cursor = page.cursor
      } while (cursor)
    }
    await walk('/')
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}

/**
 * Wait until every node serves the same tree (same paths, attributes and
 * contents) that satisfies `accept`; resolves to that common snapshot.
 */
export async function converged(
  nodes: BtNode[],
  tree: string,
  accept: (snap: Record<string, SnapEntry>) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<Record<string, SnapEntry>> {
  let last = ''
  try {
    return await poll(
      `${nodes.map((n) => n.name).join(', ')} to converge on ${tree}`,
      async () => {
        const snaps = await Promise.all(nodes.map((n) => snapshot(n, tree)))
        const texts = snaps.map((s) => JSON.stringify(s))
        last = nodes.map((n, i) => `${n.name}: ${Object.keys(snaps[i]!).join(' ')}`).join('\n')
        return texts.every((t) => t === texts[0]) && accept(snaps[0]!) ? snaps[0] : undefined
      },
      { timeoutMs },
    )
  } catch (e) {
    throw new Error(`${(e as Error).message}\npaths per node:\n${last}`)
  }
}

/** sha256 hex of bytes or text. */
export const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex')
