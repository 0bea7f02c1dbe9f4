import assert from 'node:assert/strict'
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { initNode } from '../../node/identity.js'
import { exportKey, importKey, reprotectKey, rotateKey } from '../../node/keys.js'
import { openLocalNode } from '../../node/local-node.js'
import { NodeError } from '../../node/node-error.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { tmpDir } from '../helpers/tmp.js'

const FAST_KDF = { logN: 10, r: 8, p: 1 }
const pass = (p: string) => ({ passphrase: async () => p, kdf: FAST_KDF })
const isNodeError = (code: string) => (e: unknown) => e instanceof NodeError && e.code === code

async function read(home: string, unlock = {}): Promise<string> {
  const n = await openLocalNode({ home, unlock })
  try {
    const parts: Buffer[] = []
    for await (const c of n.readFile('docs', '/f')) parts.push(Buffer.from(c))
    return Buffer.concat(parts).toString()
  } finally {
    await n.close()
  }
}

async function seeded(
  t: Parameters<typeof tmpDir>[0],
  protect: Parameters<typeof initNode>[0]['protect'] = {},
  protection: 'none' | 'passphrase' | 'tpm' = 'none',
) {
  const home = tmpDir(t)
  const { nodeId } = await initNode({ home, protection, protect })
  const n = await openLocalNode({ home, unlock: protect })
  await n.treeCreate('docs')
  await n.writeFile(
    'docs',
    '/f',
    (async function* () {
      yield Buffer.from('secret data')
    })(),
  )
  await n.close()
  return { home, nodeId }
}

/** Every byte of every file under dir. */
function allBytes(dir: string): Buffer {
  const out: Buffer[] = []
  for (const e of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, e)
    if (statSync(p).isFile()) out.push(readFileSync(p))
  }
  return Buffer.concat(out)
}

describe('key maintenance', () => {
  test('rotate: new wrap key, same node id, trees still readable, no leftovers', async (t) => {
    const { home, nodeId } = await seeded(t)
    const before = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'))
    const r = await rotateKey({ home })
    assert.equal(r.nodeId, nodeId)
    assert.equal(r.rewrapped, 1)
    const after = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'))
    assert.notEqual(after.wrapId, before.wrapId)
    assert.equal(existsSync(join(home, 'identity.json.next')), false)
    assert.equal(await read(home), 'secret data')
  })

  test('a rotation interrupted before the re-wrap is undone, after it completed', async (t) => {
    const { home } = await seeded(t)
    // Crash after the new key file was written, before node.db was re-wrapped:
    // take the .next of a rotation done on a copy.
    const copy = tmpDir(t)
    cpSync(home, copy, { recursive: true })
    await rotateKey({ home: copy })
    cpSync(join(copy, 'identity.json'), join(home, 'identity.json.next'))
    assert.equal(await read(home), 'secret data')
    assert.equal(existsSync(join(home, 'identity.json.next')), false)
    // Crash after the re-wrap, before the rename: node.db has the new key's fingerprint.
    const old = readFileSync(join(home, 'identity.json'))
    await rotateKey({ home })
    renameSync(join(home, 'identity.json'), join(home, 'identity.json.next'))
    writeFileSync(join(home, 'identity.json'), old)
    assert.equal(await read(home), 'secret data')
    assert.equal(existsSync(join(home, 'identity.json.next')), false)
    assert.notDeepEqual(readFileSync(join(home, 'identity.json')), old)
  })

  test('passphrase: wrong one refused; re-protect with a new one; old stops working', async (t) => {
    const { home } = await seeded(t, pass('correct horse'), 'passphrase')
    assert.ok(!allBytes(home).includes(Buffer.from('correct horse')))
    await assert.rejects(openLocalNode({ home, unlock: pass('wrong') }), isNodeError('EKEY'))
    await assert.rejects(openLocalNode({ home }), isNodeError('EKEY'))
    await reprotectKey({
      home,
      unlock: pass('correct horse'),
      protect: { protection: 'passphrase', ...pass('battery staple') },
    })
    await assert.rejects(openLocalNode({ home, unlock: pass('correct horse') }), isNodeError('EKEY'))
    assert.equal(await read(home, pass('battery staple')), 'secret data')
  })

  test('export, then import into an empty data dir: same node; refused over an identity or foreign trees', async (t) => {
    const { home, nodeId } = await seeded(t)
    const backup = await exportKey({ home, passphrase: 'backup pass' })
    assert.match(backup, /BEGIN BLOCKTREE KEY BACKUP/)
    const fresh = tmpDir(t)
    await assert.rejects(
      importKey({ home: fresh, backup, passphrase: 'nope', protect: { protection: 'none' } }),
      isNodeError('EKEY'),
    )
    const r = await importKey({
      home: fresh,
      backup,
      passphrase: 'backup pass',
      protect: { protection: 'passphrase', ...pass('p') },
    })
    assert.equal(r.nodeId, nodeId)
    await assert.rejects(
      importKey({ home: fresh, backup, passphrase: 'backup pass', protect: { protection: 'none' } }),
      isNodeError('EINITIALIZED'),
    )
    // Lost key file: node.db and trees remain; the import restores access to them.
    const lost = tmpDir(t)
    cpSync(home, lost, { recursive: true })
    rmSync(join(lost, 'identity.json'))
    await importKey({ home: lost, backup, passphrase: 'backup pass', protect: { protection: 'none' } })
    assert.equal(await read(lost), 'secret data')
    // Another node's backup does not fit these trees.
    const other = await seeded(t)
    const otherBackup = await exportKey({ home: other.home, passphrase: 'x' })
    rmSync(join(lost, 'identity.json'))
    await assert.rejects(
      importKey({ home: lost, backup: otherBackup, passphrase: 'x', protect: { protection: 'none' } }),
      isNodeError('EKEY'),
    )
    assert.equal(existsSync(join(lost, 'identity.json')), false)
  })

  test('tpm (swtpm): init, restart the TPM, read; the data dir holds no plaintext key; another TPM is refused', async (t) => {
    const tpm = await startSwtpm(t)
    const { home } = await seeded(t, { tpm: tpm.spec }, 'tpm')
    await tpm.restart()
    assert.equal(await read(home, { tpm: tpm.spec }), 'secret data')
    const backup = await exportKey({ home, unlock: { tpm: tpm.spec }, passphrase: 'b' })
    const { importSecret } = await import('../../tpm/index.js')
    const master = Buffer.from(await importSecret(backup, 'b'))
    const disk = allBytes(home)
    assert.ok(!disk.includes(master.subarray(0, 32)), 'seed on disk')
    assert.ok(!disk.includes(master.subarray(32)), 'wrap key on disk')
    const other = await startSwtpm(t)
    await assert.rejects(openLocalNode({ home, unlock: { tpm: other.spec } }), isNodeError('EKEY'))
    const rotated = await rotateKey({ home, unlock: { tpm: tpm.spec } })
    assert.equal(rotated.protection, 'tpm')
    assert.equal(await read(home, { tpm: tpm.spec }), 'secret data')
  })
})
