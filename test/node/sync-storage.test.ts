/** node.db replication tables: invites, pins, the peer address book, member log storage, migration. */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { InviteStore } from '../../node/invites.js'
import { SqliteMemberLogStore } from '../../node/members.js'
import { openMemoryVolume } from '../../node/open-tree.js'
import { PeerStore } from '../../node/peer-store.js'
import { PinStore, pinnedRefs } from '../../node/pins.js'
import { NODE_DB_VERSION } from '../../node/sync-schema.js'
import { TreeRegistry } from '../../node/trees.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { put } from './helpers.js'

const WRAP = new Uint8Array(32).fill(7)
const TREE = 'a'.repeat(32)
const JOINER = 'b'.repeat(64)
const OTHER = 'c'.repeat(64)

function registry(t: { after(fn: () => unknown): void }, rt = new ManualRuntime(1)) {
  const r = new TreeRegistry(join(tmpDir(t), 'node.db'), WRAP, rt.random)
  t.after(() => r.close())
  return { r, db: r.database, rt }
}

const same = (expected: Uint8Array) => (secret: Uint8Array) =>
  Buffer.from(secret).equals(Buffer.from(expected))

describe('invites', () => {
  test('one-time: the first joiner wins, the same joiner may redeem again, others are refused', (t) => {
    const { db, rt } = registry(t)
    const store = new InviteStore(db, WRAP, rt)
    const { invite, secret } = store.issue(TREE, 'writer', rt.clock.now() + 60_000)
    assert.match(invite.id, /^[0-9a-f]{32}$/)
    assert.equal(secret.length, 32)
    assert.deepEqual(store.redeem(TREE, invite.id, JOINER, same(secret)), { role: 'writer' })
    assert.equal(store.get(invite.id)?.usedBy, JOINER)
    assert.deepEqual(store.redeem(TREE, invite.id, JOINER, same(secret)), { role: 'writer' })
    assert.deepEqual(store.redeem(TREE, invite.id, OTHER, same(secret)), { refused: 'used' })
  })

  test('a wrong proof, another tree, an unknown id and an expired invite are refused; nothing is used up', (t) => {
    const { db, rt } = registry(t)
    const store = new InviteStore(db, WRAP, rt)
    const { invite, secret } = store.issue(TREE, 'reader', rt.clock.now() + 1000)
    assert.deepEqual(
      store.redeem(TREE, invite.id, JOINER, () => false),
      { refused: 'bad-proof' },
    )
    assert.deepEqual(store.redeem('d'.repeat(32), invite.id, JOINER, same(secret)), { refused: 'wrong-tree' })
    assert.deepEqual(store.redeem(TREE, 'e'.repeat(32), JOINER, same(secret)), { refused: 'unknown' })
    assert.equal(store.get(invite.id)?.usedBy, undefined)
    rt.advance(1001)
    assert.deepEqual(store.redeem(TREE, invite.id, JOINER, same(secret)), { refused: 'expired' })
    assert.equal(store.get(invite.id)?.usedBy, undefined)
  })

  test('the secret is stored wrapped (not in the clear) and survives a wrap-key rotation', (t) => {
    const { r, db, rt } = registry(t)
    const store = new InviteStore(db, WRAP, rt)
    const { invite, secret } = store.issue(TREE, 'admin')
    const row = db.prepare('SELECT secret FROM invite').get() as { secret: Buffer }
    assert.equal(row.secret.includes(Buffer.from(secret)), false)
    const next = new Uint8Array(32).fill(9)
    r.rewrapAll(next)
    // The old key no longer unwraps it; the new one does.
    assert.deepEqual(new InviteStore(db, WRAP, rt).redeem(TREE, invite.id, JOINER, same(secret)), {
      refused: 'bad-proof',
    })
    assert.deepEqual(new InviteStore(db, next, rt).redeem(TREE, invite.id, JOINER, same(secret)), {
      role: 'admin',
    })
  })

  test('list by tree, oldest first', (t) => {
    const { db, rt } = registry(t)
    const store = new InviteStore(db, WRAP, rt)
    const a = store.issue(TREE, 'writer').invite
    rt.advance(5)
    const b = store.issue(TREE, 'reader', rt.clock.now() + 10).invite
    store.issue('f'.repeat(32), 'writer')
    assert.deepEqual(
      store.list(TREE).map((i) => i.id),
      [a.id, b.id],
    )
    assert.equal(store.list().length, 3)
    assert.equal(store.list(TREE)[1]!.expires, b.expires)
  })
})

describe('member log storage', () => {
  test('entries come back in arrival order, per tree', (t) => {
    const { db } = registry(t)
    const a = new SqliteMemberLogStore(db, TREE)
    const b = new SqliteMemberLogStore(db, 'f'.repeat(32))
    assert.equal(a.count(), 0)
    a.append([Uint8Array.of(1), Uint8Array.of(2, 2)])
    b.append([Uint8Array.of(9)])
    a.append([Uint8Array.of(3)])
    assert.deepEqual(
      a.load().map((e) => [...e]),
      [[1], [2, 2], [3]],
    )
    assert.deepEqual(
      b.load().map((e) => [...e]),
      [[9]],
    )
    assert.equal(a.count(), 3)
    assert.throws(() => a.append([new Uint8Array(0)]), RangeError)
    assert.equal(a.count(), 3, 'a refused batch adds nothing')
  })
})

describe('pins', () => {
  test('add/remove/list and the files they cover (directories recursively, each ref once)', async (t) => {
    const { db } = registry(t)
    const pins = new PinStore(db)
    assert.equal(pins.add(TREE, '/docs', 1), true)
    assert.equal(pins.add(TREE, '/docs', 2), false)
    assert.equal(pins.add(TREE, '/top.txt', 3), true)
    assert.deepEqual(
      pins.list(TREE).map((p) => p.path),
      ['/docs', '/top.txt'],
    )
    const v = await openMemoryVolume({ nodeId: 'n'.repeat(64), key: WRAP, runtime: new ManualRuntime(3) })
    t.after(() => v.close())
    await v.mkdirp('/docs/deep', 0o755)
    await put(v, '/docs/a.txt', 'A')
    await put(v, '/docs/deep/b.txt', 'B')
    await put(v, '/docs/deep/same-as-a.txt', 'A')
    await put(v, '/top.txt', 'T')
    await put(v, '/other.txt', 'O')
    const refs = [
      ...pinnedRefs(
        v.tree,
        pins.list(TREE).map((p) => p.path),
      ),
    ]
    const want = ['/docs/a.txt', '/docs/deep/b.txt', '/top.txt'].map(
      (p) => v.tree.resolve(p)!.content!.ref.id,
    )
    assert.deepEqual(refs.map((r) => r.id).sort(), want.sort())
    assert.deepEqual([...pinnedRefs(v.tree, ['/missing'])], [])
    assert.equal(pins.remove(TREE, '/docs'), true)
    assert.equal(pins.remove(TREE, '/docs'), false)
  })
})

describe('peer address book', () => {
  test('record, newest first, bounded per node, aged out after 30 days; ports and own addresses', (t) => {
    const { db } = registry(t)
    const ps = new PeerStore(db)
    ps.record(JOINER, ['iroh:127.0.0.1:1'], 'ticket', 1000)
    ps.record(JOINER, ['iroh:127.0.0.1:2'], 'exchange', 2000)
    ps.record('not-a-node', ['x'], 'ticket', 2000)
    assert.deepEqual(ps.load(3000), [{ node: JOINER, addrs: ['iroh:127.0.0.1:2', 'iroh:127.0.0.1:1'] }])
    for (let i = 0; i < 40; i++) ps.record(OTHER, [`iroh:127.0.0.1:${100 + i}`], 'exchange', 3000 + i)
    const other = ps.load(4000).find((p) => p.node === OTHER)!
    assert.equal(other.addrs.length, 16)
    assert.equal(other.addrs[0], 'iroh:127.0.0.1:139')
    assert.deepEqual(
      ps.load(2000 + 30 * 86_400_000 + 1).map((p) => p.node),
      [OTHER],
      'JOINER was last seen over 30 days ago',
    )
    assert.equal(ps.port('iroh'), undefined)
    ps.setPort('iroh', 40123)
    assert.equal(ps.port('iroh'), 40123)
    assert.deepEqual(ps.ownAddresses(), [])
    ps.setOwnAddresses(['iroh:127.0.0.1:40123'])
    assert.deepEqual(ps.ownAddresses(), ['iroh:127.0.0.1:40123'])
  })
})

describe('node.db migration', () => {
  test('a version-1 node.db (registry only) gains the replication tables and keeps its trees', (t) => {
    const file = join(tmpDir(t), 'node.db')
    const rt = new ManualRuntime(5)
    // Build a v1 file exactly as the previous release did.
    const old = new TreeRegistry(file, WRAP, rt.random)
    const created = old.add('docs', 1234)
    old.database.exec('DROP TABLE member_entry; DROP TABLE invite; DROP TABLE pin; DROP TABLE peer_addr')
    old.database.pragma('user_version = 1')
    old.close()
    const raw = new Database(file)
    assert.equal(raw.pragma('user_version', { simple: true }), 1)
    raw.close()

    const r = new TreeRegistry(file, WRAP, rt.random)
    t.after(() => r.close())
    assert.equal(r.database.pragma('user_version', { simple: true }), NODE_DB_VERSION)
    const tables = (
      r.database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string
      }[]
    ).map((x) => x.name)
    for (const name of ['invite', 'member_entry', 'peer_addr', 'pin', 'tree', 'node_meta'])
      assert.ok(tables.includes(name), `${name} exists`)
    const back = r.get('docs')
    assert.equal(back.id, created.id)
    assert.deepEqual([...back.key], [...created.key])
  })

  test('a node.db from a newer bt is refused, not downgraded', (t) => {
    const file = join(tmpDir(t), 'node.db')
    const db = new Database(file)
    db.pragma(`user_version = ${NODE_DB_VERSION + 1}`)
    db.close()
    assert.throws(() => new TreeRegistry(file, WRAP, new ManualRuntime(1).random), /newer bt/)
  })
})
