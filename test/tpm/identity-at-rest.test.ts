/**
 * The node's key file with each protection, end to end through
 * node/identity.ts: the data dir never holds the seed or master secret in
 * plaintext, a restarted node (and swtpm) unlocks it, another TPM is a clear
 * error and nothing is overwritten.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { initNode, loadIdentity } from '../../node/identity.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { tmpDir } from '../helpers/tmp.js'

process.env.BT_NETWORK ??= 'loopback'

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : [p]
  })
}

/** Fails if any file under `home` contains `secret` (raw, hex or base64), or any 8-byte piece of it raw. */
function assertNotOnDisk(home: string, secret: Uint8Array): void {
  const s = Buffer.from(secret)
  for (const f of files(home)) {
    const data = readFileSync(f)
    const text = data.toString('latin1')
    for (const enc of ['hex', 'base64', 'base64url'] as const)
      assert.ok(!text.includes(s.subarray(0, 24).toString(enc)), `${f} holds the secret (${enc})`)
    for (let i = 0; i + 8 <= s.length; i += 8)
      assert.ok(!data.includes(s.subarray(i, i + 8)), `${f} holds secret bytes`)
  }
}

describe('node key file at rest', () => {
  test('tpm: unlocks after a node and swtpm restart; no plaintext on disk; another TPM: clear error, file unchanged', async (t) => {
    const sw = await startSwtpm(t)
    const home = tmpDir(t)
    const { nodeId } = await initNode({ home, protection: 'tpm', protect: { tpm: sw.spec } })
    const id = await loadIdentity(home, { tpm: sw.spec })
    assert.equal(id.nodeId, nodeId)
    assert.equal(id.protection, 'tpm')
    assertNotOnDisk(home, id.seed)
    assertNotOnDisk(home, id.wrapKey)

    await sw.restart()
    assert.equal((await loadIdentity(home, { tpm: sw.spec })).nodeId, nodeId)

    const other = await startSwtpm(t)
    const before = readFileSync(join(home, 'identity.json'))
    await assert.rejects(loadIdentity(home, { tpm: other.spec }), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'EKEY')
      assert.match((e as Error).message, /sealed by another TPM/)
      return true
    })
    assert.deepEqual(readFileSync(join(home, 'identity.json')), before)
  })

  test('passphrase: no plaintext on disk; wrong passphrase refused', async (t) => {
    const home = tmpDir(t)
    const kdf = { logN: 10, r: 8, p: 1 }
    const passphrase = async () => 'pw for the test'
    await initNode({ home, protection: 'passphrase', protect: { passphrase, kdf } })
    const id = await loadIdentity(home, { passphrase })
    assertNotOnDisk(home, id.seed)
    assertNotOnDisk(home, id.wrapKey)
    await assert.rejects(loadIdentity(home, { passphrase: async () => 'nope' }), /wrong passphrase/)
  })

  test('the scan itself finds a secret stored with protection none', async (t) => {
    const home = tmpDir(t)
    await initNode({ home, protection: 'none' })
    const id = await loadIdentity(home)
    assert.throws(() => assertNotOnDisk(home, id.seed), /holds the secret/)
  })
})
