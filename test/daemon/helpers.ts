/** Helpers of the daemon tests: an initialised data dir, an in-process daemon, byte streams. */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { NodeApi } from '../../node/api-types.js'
import { runDaemon } from '../../node/daemon/index.js'
import { FsError } from '../../node/errors.js'
import { initNode } from '../../node/identity.js'
import { NodeError } from '../../node/node-error.js'
import { type Teardown, tmpDir } from '../helpers/tmp.js'

export { tmpDir }

/** A fresh data dir with an identity (key protection 'none'), removed after the test. */
export async function tmpHome(t: Teardown, prefix = 'bt-daemon-'): Promise<string> {
  const home = tmpDir(t, prefix)
  await initNode({ home, protection: 'none' })
  return home
}

export interface InProcessDaemon {
  pid: number
  socket: string
  /** Log lines so far. */
  log: string[]
  /** Ask it to stop (like SIGTERM) and wait until it has. */
  stop(): Promise<void>
  /** Settles when runDaemon returns. */
  done: Promise<void>
}

/** runDaemon in this process (no signal handlers); stopped after the test if still running. */
export async function startDaemon(
  t: Teardown,
  home: string,
  opts: { graceMs?: number } = {},
): Promise<InProcessDaemon> {
  const ac = new AbortController()
  const log: string[] = []
  let ready!: (i: { pid: number; socket: string }) => void
  const readyP = new Promise<{ pid: number; socket: string }>((r) => {
    ready = r
  })
  const done = runDaemon({
    home,
    signals: false,
    stop: ac.signal,
    log: (l) => log.push(l),
    onReady: ready,
    ...(opts.graceMs === undefined ? {} : { graceMs: opts.graceMs }),
  })
  const info = await Promise.race([readyP, done.then(() => assert.fail('runDaemon returned before ready'))])
  const stop = async () => {
    ac.abort()
    await done
  }
  t.after(stop)
  return { ...info, log, stop, done }
}

/** `size` deterministic bytes in pieces of `piece`, generated lazily (never all in memory). */
export async function* bytesOf(size: number, seed = 1, piece = 1 << 20): AsyncGenerator<Uint8Array> {
  const block = Buffer.alloc(piece)
  let x = seed >>> 0 || 1
  for (let i = 0; i < piece; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    block.writeUInt32LE(x >>> 0, i)
  }
  for (let at = 0, n = 0; at < size; at += piece, n++) {
    // Vary each piece so content-defined chunking does not dedup the whole stream.
    const b = Buffer.from(block.subarray(0, Math.min(piece, size - at)))
    b.writeUInt32LE(n, 0)
    yield b
  }
}

export async function sha256(it: AsyncIterable<Uint8Array>): Promise<{ hash: string; size: number }> {
  const h = createHash('sha256')
  let size = 0
  for await (const c of it) {
    h.update(c)
    size += c.length
  }
  return { hash: h.digest('hex'), size }
}

export async function text(it: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of it) parts.push(Buffer.from(c))
  return Buffer.concat(parts).toString()
}

export async function* once(s: string | Uint8Array): AsyncGenerator<Uint8Array> {
  yield typeof s === 'string' ? Buffer.from(s) : s
}

export const isFs = (code: string, path?: string) => (e: unknown) => {
  assert.ok(e instanceof FsError, `expected FsError ${code}, got ${String(e)}`)
  assert.equal(e.code, code)
  if (path !== undefined) assert.equal(e.path, path)
  return true
}

export const isNode = (code: string) => (e: unknown) => {
  assert.ok(e instanceof NodeError, `expected NodeError ${code}, got ${String(e)}`)
  assert.equal(e.code, code, e.message)
  return true
}

export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export type { NodeApi }
