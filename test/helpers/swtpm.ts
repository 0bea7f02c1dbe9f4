/**
 * A real software TPM (Debian `swtpm`) for a test: a fresh state dir (or a
 * given one, to restart "the same TPM"), the command channel on a loopback
 * TCP port (or a Unix socket) and the control channel on the next port (the
 * tpm2-tools `swtpm:` TCTI uses it). Stopped in the test's teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { type Teardown, tmpDir } from './tmp.js'

export interface Swtpm {
  /** Our spec for it: `swtpm:127.0.0.1:P` or `unix:PATH`. */
  spec: string
  /** TCTI string for tpm2-tools (TCP mode only). */
  tcti: string
  stateDir: string
  /** Stop the process (state stays on disk). */
  stop(): Promise<void>
  /** Stop and start again on the same state dir (and ports). */
  restart(): Promise<void>
}

export interface SwtpmOptions {
  /** Reuse this state dir (another TPM's identity lives in its own dir). */
  stateDir?: string
  /** Serve the command channel on a Unix socket instead of TCP. */
  unix?: boolean
  /** Leave the TPM un-started: the client must send TPM2_Startup itself. */
  noStartup?: boolean
}

/** Two free consecutive loopback ports P, P+1 (command, control). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await listenOn(0)
    if (p !== undefined && p < 65535 && (await listenOn(p + 1)) !== undefined) return p
  }
  throw new Error('no free pair of loopback ports for swtpm')
}

function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(undefined))
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address()
      const p = typeof addr === 'object' && addr ? addr.port : undefined
      srv.close(() => resolve(p))
    })
  })
}

function canConnect(o: { port: number } | { path: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const s = 'port' in o ? connect({ host: '127.0.0.1', port: o.port }) : connect({ path: o.path })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

export async function startSwtpm(t: Teardown, o: SwtpmOptions = {}): Promise<Swtpm> {
  const stateDir = o.stateDir ?? join(tmpDir(t, 'bt-swtpm-'), 'state')
  mkdirSync(stateDir, { recursive: true })
  const port = await freePortPair()
  const sock = o.unix ? join(stateDir, '..', `swtpm-${port}.sock`) : ''
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  const start = async () => {
    const server = o.unix ? `type=unixio,path=${sock}` : `type=tcp,port=${port},bindaddr=127.0.0.1`
    const proc = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${stateDir}`,
        '--server',
        server,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags',
        o.noStartup ? 'not-need-init' : 'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    proc.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString()
    })
    child = proc
    exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`swtpm exited: ${stderr.trim()}`)
      if (await canConnect(o.unix ? { path: sock } : { port })) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`swtpm did not come up: ${stderr.trim()}`)
  }

  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    child = undefined
  }

  await start()
  t.after(stop)
  return {
    spec: o.unix ? `unix:${sock}` : `swtpm:127.0.0.1:${port}`,
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    stateDir,
    stop,
    async restart() {
      await stop()
      await start()
    },
  }
}
