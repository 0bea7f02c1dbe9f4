/**
 * Two real `bt up` daemons on loopback (iroh only): invite, join, a write on
 * each side visible on the other, members and peers, a used ticket refused,
 * revocation, and a restart that redials by itself.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { tmpDirWith } from '../helpers/tmp.js'
import { type BtResult, btAsync, ok } from './helpers.js'

const WAIT_MS = 60_000

async function run(home: string, args: string[], input?: string): Promise<BtResult> {
  if (input === undefined) return btAsync(home, args)
  const { spawn } = await import('node:child_process')
  const { BT, btEnv } = await import('./helpers.js')
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BT, '--home', home, ...args], { env: btEnv() })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (status) => resolve({ status, stdout, stderr }))
    p.stdin.end(input)
  })
}

async function okRun(home: string, args: string[], input?: string): Promise<string> {
  return ok(await run(home, args, input)).stdout
}

async function json<T>(home: string, args: string[]): Promise<T> {
  return JSON.parse(await okRun(home, ['--json', ...args])) as T
}

/** Poll until `fn` returns a value other than undefined/false, or fail after WAIT_MS. */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + WAIT_MS
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function node(
  t: { after(fn: () => unknown): void },
  name: string,
): Promise<{ home: string; id: string }> {
  const home = `${tmpDirWith(t, `bt-sync-${name}-`, (d) => run(`${d}/home`, ['down']))}/home`
  const id = (await okRun(home, ['init', '--key-protection', 'none'])).trim()
  return { home, id }
}

const up = (home: string) => okRun(home, ['up', '--detach', '--transport', 'iroh'])

describe('two daemons on loopback (iroh)', { timeout: 300_000 }, () => {
  test('invite, join, writes both ways, members, peers, one-time tickets, revocation, redial after restart', async (t) => {
    const a = await node(t, 'a')
    const b = await node(t, 'b')
    const c = await node(t, 'c')
    await okRun(a.home, ['tree', 'create', 'docs'])
    await Promise.all([up(a.home), up(b.home), up(c.home)])

    const ticket = (await okRun(a.home, ['invite', 'docs'])).trim()
    assert.match(ticket, /^bt1[a-z2-7]+$/, 'the ticket alone on stdout')
    const joined = await okRun(b.home, ['join', ticket])
    assert.equal(joined.trim(), 'docs', "the local name defaults to the inviter's")

    // The ticket is used up: another node is refused with a clear error.
    const again = await run(c.home, ['join', ticket])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /refused the invitation/)

    await okRun(a.home, ['put', '-', 'docs:/from-a.txt'], 'hello from a\n')
    await okRun(b.home, ['put', '-', 'docs:/from-b.txt'], 'hello from b\n')
    await until(
      'a write of a on b',
      async () => (await run(b.home, ['cat', 'docs:/from-a.txt'])).stdout === 'hello from a\n',
    )
    await until(
      'a write of b on a',
      async () => (await run(a.home, ['cat', 'docs:/from-b.txt'])).stdout === 'hello from b\n',
    )

    const members = await json<{ node: string; role: string; self: boolean }[]>(b.home, [
      'tree',
      'members',
      'docs',
    ])
    assert.deepEqual(
      members.map((m) => [m.node, m.role, m.self]).sort(),
      [
        [a.id, 'admin', false],
        [b.id, 'writer', true],
      ].sort(),
    )
    const peers = await json<{ peers: { node: string; transports: string[]; trees: { tree: string }[] }[] }>(
      a.home,
      ['peers'],
    )
    assert.deepEqual(
      peers.peers.map((p) => [p.node, p.transports, p.trees.map((x) => x.tree)]),
      [[b.id, ['iroh'], ['docs']]],
    )
    const status = await json<{
      sync: { running: boolean; trees: { name: string; peers: number; state: string }[] }
    }>(b.home, ['status'])
    assert.equal(status.sync.running, true)
    assert.equal(status.sync.trees[0]!.name, 'docs')
    assert.equal(status.sync.trees[0]!.peers, 1)

    // c joins as a reader under its own name: content comes when read; pins are fetched and kept.
    const readerTicket = (await okRun(a.home, ['invite', 'docs', '--role', 'reader'])).trim()
    assert.equal((await okRun(c.home, ['join', readerTicket, '--name', 'shared'])).trim(), 'shared')
    await until('the file list on c', async () =>
      (await okRun(c.home, ['ls', 'shared:/'])).includes('from-b.txt'),
    )
    assert.equal(await okRun(c.home, ['cat', 'shared:/from-a.txt']), 'hello from a\n', 'fetched on demand')
    type Verify = { ok: boolean; trees: { notLocal?: number; missing: string[] }[] }
    const before = await json<Verify>(c.home, ['verify'])
    assert.equal(before.ok, true, 'absent content of a reader is not damage')
    assert.ok((before.trees[0]!.notLocal ?? 0) > 0, 'from-b.txt was never read on c')
    const sc = await json<{ sync: { trees: { name: string; role: string; policy: string }[] } }>(c.home, [
      'status',
    ])
    assert.deepEqual(
      sc.sync.trees.map((x) => [x.name, x.role, x.policy]),
      [['shared', 'reader', 'demand']],
    )
    const refused = await run(c.home, ['put', '-', 'shared:/by-reader.txt'], 'no\n')
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /Read-only file system.*reader/)
    await okRun(c.home, ['pin', 'shared:/'])
    await until(
      'pinned content local on c',
      async () => (await json<Verify>(c.home, ['verify'])).trees[0]!.notLocal === 0,
    )

    // b restarts: it redials a from the address book and keeps syncing.
    await okRun(b.home, ['down'])
    await okRun(a.home, ['put', '-', 'docs:/while-b-was-down.txt'], 'offline\n')
    await up(b.home)
    await until(
      'b catching up after its restart',
      async () => (await run(b.home, ['cat', 'docs:/while-b-was-down.txt'])).stdout === 'offline\n',
    )

    // Revocation: b's connection is dropped and it gets nothing new.
    await okRun(a.home, ['tree', 'remove-member', 'docs', b.id.slice(0, 12)])
    await until(
      'b disconnected',
      async () =>
        !(await json<{ peers: { node: string }[] }>(a.home, ['peers'])).peers.some((p) => p.node === b.id),
    )
    await okRun(a.home, ['put', '-', 'docs:/after-revoke.txt'], 'secret\n')
    await new Promise((r) => setTimeout(r, 3000))
    const late = await run(b.home, ['cat', 'docs:/after-revoke.txt'])
    assert.equal(late.status, 1, 'a revoked member receives nothing new')
  })

  test('join: a mistyped ticket, and an inviter that is down', async (t) => {
    const a = await node(t, 'a')
    const b = await node(t, 'b')
    await okRun(a.home, ['tree', 'create', 'docs'])
    await up(a.home)
    await okRun(a.home, ['down'])
    // No daemon on a: the ticket is printed (with the addresses of a's last run), and a warning.
    const r = await run(a.home, ['invite', 'docs'])
    ok(r)
    assert.match(r.stderr, /no node is running/)
    const ticket = r.stdout.trim()
    await up(b.home)
    const typo = await run(b.home, ['join', `${ticket.slice(0, 20)}x${ticket.slice(21)}`])
    assert.equal(typo.status, 1)
    assert.match(typo.stderr, /invalid ticket/)
    const down = await run(b.home, ['join', ticket, '--timeout', '3s'])
    assert.equal(down.status, 1)
    assert.match(down.stderr, /inviter|reach/)
    // Nothing was registered by the failed joins.
    assert.deepEqual(await json(b.home, ['tree', 'list']), [])
  })
})
