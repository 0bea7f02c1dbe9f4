/**
 * Mounting through the daemon with the real `bt`: `bt up --mount`, `bt mount`,
 * `bt unmount`, changes crossing between the mount and the CLI, `bt down`
 * unmounting, and recovery from the stale mount a SIGKILLed daemon leaves.
 */
import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { mountAt, probe } from '../../fuse/index.js'
import { type BtResult, btAsync } from '../cli/helpers.js'
import { forceUnmount, fuseSkipReason, shOk } from '../helpers/fuse.js'
import { tmpDirWith } from '../helpers/tmp.js'

function ok(r: BtResult, what: string): BtResult {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

function fails(r: BtResult, what: string, pattern: RegExp): void {
  assert.equal(r.status, 1, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.match(r.stderr, pattern, what)
}

async function daemonPid(home: string): Promise<number> {
  return JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')).pid as number
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`process ${pid} did not go away`)
}

test('bt up --mount, bt mount/unmount, CLI and mount see each other, bt down unmounts, a SIGKILLed daemon is recovered', {
  skip: fuseSkipReason(),
  timeout: 240_000,
}, async (t) => {
  // The node is stopped and the mounts cleaned before the directory is removed.
  const root = tmpDirWith(t, 'bt-fuse-daemon-', async () => {
    await bt('down')
    await forceUnmount(mnt)
    await forceUnmount(mnt2)
  })
  const home = join(root, 'home')
  const mnt = join(root, 'mnt')
  const mnt2 = join(root, 'mnt2')
  const full = join(root, 'full')
  await Promise.all([mkdir(mnt), mkdir(mnt2), mkdir(full)])
  await writeFile(join(full, 'x'), 'x')
  const bt = (...args: string[]) => btAsync(home, args)

  ok(await bt('init', '--key-protection', 'none'), 'init')
  ok(await bt('tree', 'create', 'docs'), 'tree create')
  fails(await bt('mount', 'docs', mnt), 'mount without a node', /no node is running.*bt up --detach/)

  ok(await bt('up', '--detach', '--mount', `docs=${mnt}`), 'up --mount')
  const status = JSON.parse(ok(await bt('status', '--json'), 'status').stdout)
  assert.deepEqual(
    status.mounts.map((m: { tree: string; dir: string }) => [m.tree, m.dir]),
    [['docs', mnt]],
  )
  assert.match(ok(await bt('status'), 'status').stdout, /mount: +docs at /)

  // Mount -> CLI: the daemon serves the mount and the CLI from one Volume.
  await shOk(`printf 'through the mount' > ${mnt}/a.txt && mkdir ${mnt}/dir`)
  assert.equal(ok(await bt('cat', 'docs:/a.txt'), 'cat').stdout, 'through the mount')
  assert.match(ok(await bt('log', 'docs'), 'log').stdout, /docs:\/a\.txt/)
  assert.match(ok(await bt('ls', 'docs:/'), 'ls').stdout, /dir/)
  // CLI -> mount, including a replacement of a file the kernel has seen.
  const local = join(root, 'b.txt')
  await writeFile(local, 'through the CLI')
  ok(await bt('put', local, 'docs:/b.txt'), 'put')
  assert.equal(await shOk(`cat ${mnt}/b.txt`), 'through the CLI')
  await writeFile(local, 'replaced by the CLI')
  ok(await bt('put', local, 'docs:/b.txt'), 'put again')
  assert.equal(await shOk(`cat ${mnt}/b.txt`), 'replaced by the CLI')
  ok(await bt('rm', 'docs:/a.txt'), 'rm')
  assert.equal(await shOk(`ls ${mnt}`), 'b.txt\ndir\n')

  fails(await bt('mount', 'docs', mnt), 'mount twice', /already mounted/)
  fails(await bt('mount', 'docs', full), 'mount on a non-empty dir', /not empty/)
  fails(await bt('mount', 'docs', join(root, 'nope')), 'mount on a missing dir', /no such directory/)
  fails(await bt('mount', 'nosuchtree', mnt2), 'mount of an unknown tree', /nosuchtree/)
  fails(await bt('mount', 'docs', join(mnt, 'dir')), 'mount inside a mount', /inside the mount of tree docs/)
  ok(await bt('mount', 'docs', mnt2), 'second mount of the tree')
  assert.equal(await shOk(`cat ${mnt2}/b.txt`), 'replaced by the CLI')
  ok(await bt('unmount', mnt2), 'unmount')
  assert.equal(await mountAt(mnt2), undefined)
  fails(await bt('unmount', mnt2), 'unmount of a plain dir', /not mounted/)

  // A busy mount is not torn away unless asked (a shell sits inside it).
  const { spawn } = await import('node:child_process')
  ok(await bt('mount', 'docs', mnt2), 'mount again')
  const busy = spawn('sh', ['-c', 'exec sleep 30'], { cwd: mnt2, stdio: 'ignore' })
  t.after(() => busy.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 200))
  fails(await bt('unmount', mnt2), 'unmount while busy', /busy/)
  ok(await bt('unmount', '--lazy', mnt2), 'unmount --lazy')
  busy.kill('SIGKILL')

  ok(await bt('down'), 'down')
  assert.equal(await mountAt(mnt), undefined, 'bt down unmounts')

  // SIGKILL leaves a dead mount behind; bt up --mount cleans it and mounts again.
  ok(await bt('up', '--detach', '--mount', `docs=${mnt}`), 'up again')
  let pid = await daemonPid(home)
  process.kill(pid, 'SIGKILL')
  await waitGone(pid)
  assert.ok(await mountAt(mnt), 'the killed daemon left its mount')
  assert.equal(await probe(mnt), 'dead')
  ok(await bt('up', '--detach', '--mount', `docs=${mnt}`), 'up over a stale mount')
  assert.equal(await shOk(`cat ${mnt}/b.txt`), 'replaced by the CLI')

  // bt unmount with no node running cleans a stale mount too.
  pid = await daemonPid(home)
  process.kill(pid, 'SIGKILL')
  await waitGone(pid)
  assert.equal(await probe(mnt), 'dead')
  ok(await bt('unmount', mnt), 'unmount of a stale mount without a node')
  assert.equal(await mountAt(mnt), undefined)
  fails(await bt('unmount', mnt), 'unmount again', /not mounted/)
})
