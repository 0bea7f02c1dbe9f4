/**
 * What a running command gets: its parsed arguments, the data dir, output
 * streams (stdout for results, stderr for notes and warnings) and, on first
 * use, the node (`NodeApi`, local or through the daemon).
 */
import type { Readable, Writable } from 'node:stream'
import type { NodeApi } from '../api-types.js'
import type { Parsed } from './args.js'
import type { RemotePath } from './remote-path.js'

/** The process's streams and environment (tests pass their own). */
export interface Io {
  stdout: Writable
  stderr: Writable
  stdin: Readable
  /** stderr is a terminal: progress bars are drawn. */
  stderrTTY: boolean
  /** Terminal width for progress bars. */
  columns: number
  env: NodeJS.ProcessEnv
  /** ms clock for progress rates (real time; the CLI is composition root). */
  now: () => number
}

/**
 * A failure the command reports as one line `bt: <cmd> <subject>: <message>`
 * (exit 1 unless `exit` says otherwise).
 */
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    readonly subject: string | undefined,
    message: string,
    readonly exit = 1,
  ) {
    super(message)
  }
}

/** stdout was closed by its reader (`bt cat x | head`): stop quietly. */
export class OutputClosed extends Error {
  override name = 'OutputClosed'
}

export type Connect = (home: string) => Promise<NodeApi>

export class Ctx {
  /** The remote path the command works on; FsErrors without a tree are shown against its tree. */
  remote: RemotePath | undefined
  private node: Promise<NodeApi> | undefined
  private outBroken = false

  constructor(
    /** Command name as shown in messages (`put`, `tree create`). */
    readonly cmd: string,
    readonly args: Parsed,
    readonly home: string,
    readonly io: Io,
    private readonly connect: Connect,
  ) {
    io.stdout.on('error', () => {
      this.outBroken = true
    })
  }

  get json(): boolean {
    return this.args.json
  }
  get quiet(): boolean {
    return this.args.quiet
  }
  get positionals(): string[] {
    return this.args.positionals
  }
  flag(name: string): boolean {
    return this.args.flags.get(name) === true
  }
  value(name: string): string | undefined {
    const v = this.args.flags.get(name)
    return typeof v === 'string' ? v : undefined
  }
  /** Every value of a repeatable flag, in order (empty when absent). */
  values(name: string): string[] {
    const v = this.value(name)
    return v === undefined ? [] : v.split('\0')
  }

  /** The node, opened on first call and closed by `close()`. */
  api(): Promise<NodeApi> {
    this.node ??= this.connect(this.home)
    return this.node
  }

  /** Write raw bytes to stdout, waiting when its buffer is full. */
  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.outBroken) throw new OutputClosed('stdout closed')
    const out = this.io.stdout
    if (!out.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          out.off('drain', done)
          out.off('error', fail)
          out.off('close', done)
          resolve()
        }
        const fail = () => {
          out.off('drain', done)
          out.off('close', done)
          reject(new OutputClosed('stdout closed'))
        }
        out.on('drain', done)
        out.on('close', done)
        out.once('error', fail)
      })
    }
    if (this.outBroken) throw new OutputClosed('stdout closed')
  }

  /** One line of results on stdout. */
  out(line: string): Promise<void> {
    return this.write(`${line}\n`)
  }

  /** A JSON document on stdout. */
  outJson(value: unknown): Promise<void> {
    return this.out(JSON.stringify(value))
  }

  /** A warning on stderr (shown even with --quiet: it is about the result). */
  warn(subject: string | undefined, message: string): void {
    this.io.stderr.write(`bt: ${this.cmd}${subject ? ` ${subject}` : ''}: ${message}\n`)
  }

  /** An informational note on stderr (silenced by --quiet). */
  note(line: string): void {
    if (!this.quiet) this.io.stderr.write(`${line}\n`)
  }

  async close(): Promise<void> {
    const n = this.node
    this.node = undefined
    if (n) await (await n.catch(() => undefined))?.close()
  }
}
