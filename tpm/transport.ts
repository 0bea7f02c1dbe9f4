/**
 * How command bytes reach a TPM. A spec names the TPM:
 * - `/dev/tpmrm0` (or any path): a character device behind the kernel's
 *   resource manager; one write is one command, one read the whole response.
 * - `swtpm:HOST:PORT`: swtpm's TCP command port (`--server type=tcp`), which
 *   speaks the Microsoft simulator framing: u32 TPM_SEND_COMMAND (8), u8
 *   locality, u32 length, command; back: u32 length, response, u32 ack.
 * - `unix:PATH`: swtpm's Unix socket (`--server type=unixio`), same framing.
 *
 * Every read has a deadline; a short, oversized or malformed reply is
 * TpmError('EPROTO'), a silent TPM is 'ETIMEDOUT', a missing one 'ENOTPM'.
 * After any of these the transport is unusable (the byte stream may be out of
 * step) and every later call fails at once. Timers here are real: tpm/ talks
 * to a device, it is not part of the deterministic node core.
 */
import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { MAX_RESPONSE } from './constants.js'
import { TpmError } from './types.js'

/** A byte pipe to one TPM: one command in, one response out. */
export interface TpmTransport {
  /** What this transport talks to, for messages (`swtpm:127.0.0.1:2321`). */
  readonly label: string
  /** Send one marshalled command and return the whole response. */
  transmit(command: Uint8Array): Promise<Uint8Array>
  close(): Promise<void>
}

export interface TransportOptions {
  /** Deadline for connecting and for each response, in ms (default 30 s: real TPMs can be slow). */
  timeoutMs?: number
}

/** The device used when none is named: the `$BT_TPM` environment variable, else `/dev/tpmrm0`. */
export function resolveTpmSpec(spec?: string): string {
  return spec || process.env.BT_TPM || '/dev/tpmrm0'
}

/** Open a transport for a spec (see the module comment). */
export async function openTransport(spec: string, o: TransportOptions = {}): Promise<TpmTransport> {
  const timeoutMs = o.timeoutMs ?? 30_000
  if (spec.startsWith('swtpm:')) {
    const rest = spec.slice('swtpm:'.length)
    const colon = rest.lastIndexOf(':')
    const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
    const port = Number(rest.slice(colon + 1))
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535)
      throw new TpmError('ENOTPM', `bad TPM spec '${spec}' (expected swtpm:HOST:PORT)`)
    return SocketTransport.connect(spec, () => connect({ host, port }), timeoutMs)
  }
  if (spec.startsWith('unix:')) {
    const path = spec.slice('unix:'.length)
    if (!path) throw new TpmError('ENOTPM', `bad TPM spec '${spec}' (expected unix:PATH)`)
    return SocketTransport.connect(spec, () => connect({ path }), timeoutMs)
  }
  return DeviceTransport.open(spec, timeoutMs)
}

/** Size field of a TPM response header, checked against the limits. */
function checkSize(size: number, label: string): void {
  if (size < 10 || size > MAX_RESPONSE)
    throw new TpmError('EPROTO', `${label} sent a response of impossible size ${size}`)
}

const TPM_SEND_COMMAND = 8

/** swtpm's TCP or Unix socket with the simulator framing. */
class SocketTransport implements TpmTransport {
  private chunks: Buffer[] = []
  private buffered = 0
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined
  private failure: TpmError | undefined
  private busy: Promise<unknown> = Promise.resolve()

  private constructor(
    readonly label: string,
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b)
      this.buffered += b.length
      this.pump()
    })
    socket.on('error', (e) => this.fail(new TpmError('EPROTO', `${label}: ${e.message}`)))
    socket.on('close', () => this.fail(new TpmError('EPROTO', `${label} closed the connection`)))
  }

  static connect(label: string, dial: () => Socket, timeoutMs: number): Promise<SocketTransport> {
    return new Promise((resolve, reject) => {
      const socket = dial()
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new TpmError('ETIMEDOUT', `no answer from TPM ${label} within ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        reject(new TpmError('ENOTPM', `cannot reach TPM ${label}: ${e.code ?? e.message}`))
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        socket.setNoDelay(true)
        resolve(new SocketTransport(label, socket, timeoutMs))
      })
    })
  }

  private fail(e: TpmError): void {
    if (!this.failure) this.failure = e
    const w = this.waiter
    this.waiter = undefined
    w?.reject(this.failure)
  }

  private pump(): void {
    const w = this.waiter
    if (!w || this.buffered < w.n) return
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks)
    this.chunks = all.length > w.n ? [all.subarray(w.n)] : []
    this.buffered = all.length - w.n
    this.waiter = undefined
    w.resolve(all.subarray(0, w.n))
  }

  /** Exactly `n` bytes, or EPROTO/ETIMEDOUT. */
  private read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new TpmError('ETIMEDOUT', `TPM ${this.label} did not answer within ${this.timeoutMs} ms`))
        this.socket.destroy()
      }, this.timeoutMs)
      this.waiter = {
        n,
        resolve: (b) => {
          clearTimeout(timer)
          resolve(b)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      this.pump()
    })
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    // One command at a time: responses carry no id to match them by.
    const run = this.busy.then(() => this.exchange(command))
    this.busy = run.catch(() => undefined)
    return run
  }

  private async exchange(command: Uint8Array): Promise<Uint8Array> {
    if (this.failure) throw this.failure
    const head = Buffer.alloc(9)
    head.writeUInt32BE(TPM_SEND_COMMAND, 0)
    head.writeUInt8(0, 4)
    head.writeUInt32BE(command.length, 5)
    this.socket.write(Buffer.concat([head, command]))
    try {
      const size = (await this.read(4)).readUInt32BE(0)
      checkSize(size, `TPM ${this.label}`)
      const response = await this.read(size)
      const declared = response.readUInt32BE(2)
      if (declared !== size)
        throw new TpmError(
          'EPROTO',
          `TPM ${this.label} framed ${size} bytes but the response header says ${declared}`,
        )
      const ack = (await this.read(4)).readUInt32BE(0)
      if (ack !== 0) throw new TpmError('EPROTO', `TPM ${this.label} ended a response with status ${ack}`)
      return new Uint8Array(response)
    } catch (e) {
      const err = e instanceof TpmError ? e : new TpmError('EPROTO', `${this.label}: ${(e as Error).message}`)
      this.fail(err)
      this.socket.destroy()
      throw err
    }
  }

  async close(): Promise<void> {
    this.fail(new TpmError('EPROTO', `TPM connection ${this.label} is closed`))
    if (this.socket.destroyed) return
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve())
      this.socket.end()
      this.socket.destroySoon()
    })
  }
}

/** The part of a FileHandle a device transport uses (tests pass a fake device). */
export type DeviceHandle = Pick<FileHandle, 'write' | 'read' | 'close'>

/** A TPM character device (`/dev/tpmrm0`): write a command, read its response. */
export class DeviceTransport implements TpmTransport {
  private failure: TpmError | undefined
  private busy: Promise<unknown> = Promise.resolve()

  constructor(
    readonly label: string,
    private readonly fh: DeviceHandle,
    private readonly timeoutMs: number,
  ) {}

  static async open(path: string, timeoutMs: number): Promise<DeviceTransport> {
    try {
      return new DeviceTransport(path, await open(path, 'r+'), timeoutMs)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message
      throw new TpmError('ENOTPM', `cannot open TPM ${path}: ${code}`)
    }
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    const run = this.busy.then(() => this.exchange(command))
    this.busy = run.catch(() => undefined)
    return run
  }

  private async exchange(command: Uint8Array): Promise<Uint8Array> {
    if (this.failure) throw this.failure
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new TpmError('ETIMEDOUT', `TPM ${this.label} did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      )
    })
    try {
      const io = (async () => {
        await this.fh.write(command, 0, command.length, null)
        const buf = Buffer.alloc(MAX_RESPONSE)
        const { bytesRead } = await this.fh.read(buf, 0, buf.length, null)
        return buf.subarray(0, bytesRead)
      })()
      // If the deadline wins, a late failure of the I/O must not become an unhandled rejection.
      io.catch(() => undefined)
      const response = await Promise.race([io, deadline])
      if (response.length < 10)
        throw new TpmError('EPROTO', `TPM ${this.label} sent a truncated response (${response.length} bytes)`)
      const size = response.readUInt32BE(2)
      checkSize(size, `TPM ${this.label}`)
      if (size !== response.length)
        throw new TpmError(
          'EPROTO',
          `TPM ${this.label} sent ${response.length} bytes but the header says ${size}`,
        )
      return new Uint8Array(response)
    } catch (e) {
      const err =
        e instanceof TpmError ? e : new TpmError('EPROTO', `TPM ${this.label}: ${(e as Error).message}`)
      this.failure = err
      // A read stuck in the kernel cannot be cancelled; closing the handle is what we can do.
      void this.fh.close().catch(() => undefined)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    if (this.failure) return
    this.failure = new TpmError('EPROTO', `TPM ${this.label} is closed`)
    await this.fh.close()
  }
}
