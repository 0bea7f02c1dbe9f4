/**
 * SIGKILL of a real daemon (`bt up --mount`) while a program writes into the
 * mount: the stale mount is cleaned (`bt unmount` with no daemon running),
 * `bt verify` is clean, and after `bt up --mount` again every file whose
 * close(2) returned before the kill is intact; files the writer had not
 * finished are absent or complete, never torn.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { mountAt, probe } from '../../fuse/index.js'
import { type BtResult, btAsync } from '../cli/helpers.js'
import { forceUnmount, fuseSkipReason, py } from '../helpers/fuse.js'

/** Content of file i, as the Python writer below makes it (sizes straddle the 256 KiB inline limit). */
function expected(i: number): Buffer {
  const size = 1 + ((i * 7919) % 400_000)
  const block = createHash('sha256').update(String(i)).digest()
  return Buffer.concat(Array.from({ length: Math.ceil(size / 32) }, () => block)).subarray(0, size)
}

const WRITER = `
import hashlib, os, sys
d = sys.argv[1]
i = 0
while True:
    size = 1 + (i * 7919) % 400000
    block = hashlib.sha256(str(i).encode()).digest()
    data = (block * (size // 32 + 1))[:size]
    with open(os.path.join(d, 'f%d' % i), 'wb') as f:
        # Several writes per file, the way programs write.
        for o in range(0, size, 65536):
            f.write(data[o:o + 65536])
        if i % 5 == 0:
            f.flush()
            os.fsync(f.fileno())
    print(i, flush=True)
    i += 1
`

function ok(r: BtResult, what: string): BtResult {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

test('SIGKILL of the daemon while a program writes into the mount', {
  skip: fuseSkipReason(),
  timeout: 300_000,
}, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'bt-fuse-crash-'))
  const home = join(root, 'home')
  const mnt = join(root, 'mnt')
  await mkdir(mnt)
  const bt = (...args: string[]) => btAsync(home, args)
  // One hook, in this order: the data dir goes only once nothing is mounted on it.
  t.after(async () => {
    await bt('down')
    await forceUnmount(mnt)
    await rm(root, { recursive: true, force: true })
  })
  ok(await bt('init', '--key-protection', 'none'), 'init')
  ok(await bt('tree', 'create', 'docs'), 'tree create')
  ok(await bt('up', '--detach', '--mount', `docs=${mnt}`), 'up --mount')
  await mkdir(join(mnt, 'w'))

  // The writer prints i once close(2) of f<i> has returned.
  const writer = spawn('python3', ['-c', WRITER, join(mnt, 'w')], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => writer.kill('SIGKILL'))
  let acked = -1
  const pid = JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')).pid as number
  await new Promise<void>((resolve, reject) => {
    let buf = ''
    writer.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const lines = buf.split('\n')
      buf = lines.pop()!
      for (const l of lines) acked = Math.max(acked, Number(l))
      if (acked >= 40) {
        process.kill(pid, 'SIGKILL')
        resolve()
      }
    })
    writer.on('exit', (code) => reject(new Error(`writer exited early (${code})`)))
  })
  // The writer fails on the dead mount (ENOTCONN) or is killed.
  await new Promise<void>((resolve) => {
    if (writer.exitCode !== null) return resolve()
    writer.removeAllListeners('exit')
    writer.on('exit', () => resolve())
    setTimeout(() => writer.kill('SIGKILL'), 5000)
  })
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0)
      await new Promise((r) => setTimeout(r, 10))
    } catch {
      break
    }
  }
  assert.ok(await mountAt(mnt), 'the killed daemon left its mount')
  assert.equal(await probe(mnt), 'dead')

  // No daemon: bt unmount cleans the stale mount; the store verifies clean.
  ok(await bt('unmount', mnt), 'unmount of the stale mount')
  assert.equal(await mountAt(mnt), undefined)
  const verify = ok(await bt('verify'), 'verify')
  assert.match(verify.stdout, /^docs: \d+ chunks checked, ok$/m)

  // Mounted again: every acknowledged file intact, later ones absent or complete.
  ok(await bt('up', '--detach', '--mount', `docs=${mnt}`), 'up --mount again')
  const listing = JSON.parse(
    await py(`
import json, os, hashlib
d = ${JSON.stringify(join(mnt, 'w'))}
out = {}
for n in os.listdir(d):
    with open(os.path.join(d, n), 'rb') as f:
        out[n] = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(out))
`),
  ) as Record<string, string>
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  for (let i = 0; i <= acked; i++) assert.equal(listing[`f${i}`], sha(expected(i)), `f${i} was acknowledged`)
  for (const [name, digest] of Object.entries(listing)) {
    const i = Number(name.slice(1))
    assert.ok(Number.isInteger(i), `unexpected entry ${name}`)
    if (i > acked) assert.equal(digest, sha(expected(i)), `${name} (not acknowledged) is complete if present`)
  }
  // The CLI reads the same content the mount shows.
  const out = join(root, 'last')
  ok(await bt('get', `docs:/w/f${acked}`, out), 'get')
  assert.equal(sha(await readFile(out)), sha(expected(acked)))
  ok(await bt('down'), 'down')
  assert.equal(await mountAt(mnt), undefined, 'bt down unmounts')
})
