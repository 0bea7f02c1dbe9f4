/** Helpers shared by the Volume tests. */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { constants } from 'node:fs'
import type { TestContext } from 'node:test'
import { FsError, type FsErrorCode } from '../../node/errors.js'
import { openDiskVolume } from '../../node/open-tree.js'
import type { Volume } from '../../node/volume-types.js'
import { ManualRuntime, type Runtime } from '../../sync/runtime.js'

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC } = constants

export async function rejects(p: Promise<unknown>, code: FsErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FsError, `expected FsError ${code}, got ${String(e)}`)
    assert.equal(e.code, code, `expected ${code}, got ${e.message}`)
    return true
  })
}

export const enc = (s: string) => new TextEncoder().encode(s)
export const dec = (b: Uint8Array) => new TextDecoder().decode(b)

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return new Uint8Array(Buffer.concat(parts))
}

/** Whole content of a file read through a fresh handle. */
export async function readAll(v: Volume, path: string): Promise<Uint8Array> {
  const fh = await v.open(path, O_RDONLY)
  try {
    const { size } = await v.getattr(path, fh)
    return await v.read(fh, 0, size + 1)
  } finally {
    await v.release(fh)
  }
}

export async function put(v: Volume, path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const { fh } = await v.create(path, mode, O_CREAT | O_WRONLY | O_TRUNC)
  await v.write(fh, 0, typeof data === 'string' ? enc(data) : data)
  await v.release(fh)
}

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/**
 * Runs a crash-test writer (`node WRITER DIR`), which prints "ack <i>" after
 * each acknowledged file, and calls `onAck` with the highest acknowledged
 * index (and the child, to SIGKILL it) as acks arrive. Resolves with that
 * index once the child died of SIGKILL; rejects if it exited any other way.
 * The child is killed when the test ends, whatever happened.
 */
export async function runUntilKilled(
  t: TestContext,
  writer: string,
  dir: string,
  onAck: (acked: number, child: ChildProcess) => void,
): Promise<number> {
  const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  let acked = -1
  await new Promise<void>((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      for (const m of buf.matchAll(/ack (\d+)\n/g)) acked = Math.max(acked, Number(m[1]))
      buf = buf.slice(buf.lastIndexOf('\n') + 1)
      onAck(acked, child)
    })
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited: ${code}`)),
    )
  })
  return acked
}

/**
 * A disk volume at `dir` under the key the crash tests' writers and checkers
 * share (writers pass the system runtime, checkers a manual one).
 */
export function openCrashVolume(dir: string, nodeId: string, runtime: Runtime = new ManualRuntime(1)) {
  return openDiskVolume({ dir, nodeId, key: new Uint8Array(32).fill(7), runtime })
}
