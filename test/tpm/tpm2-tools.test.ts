/**
 * Cross-check against tpm2-tools on the same swtpm: an object sealed by our
 * client unseals with tpm2_unseal and the reverse, with and without a PCR
 * policy. Proves the templates, marshalling, sessions and policy digests
 * agree with the reference stack.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { promisify } from 'node:util'
import { newRecoveryCode, protectSecret, type TpmRecord, unprotectSecret } from '../../tpm/index.js'
import { type Swtpm, startSwtpm } from '../helpers/swtpm.js'
import { type Teardown, tmpDir } from '../helpers/tmp.js'

process.env.BT_NETWORK ??= 'loopback'
const run = promisify(execFile)
const kdf = { logN: 10, r: 8, p: 1 }
const ATTRS = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt'

/** tpm2-tools against one swtpm, in a scratch dir; every context flushed after each tool (no resource manager). */
async function tools(t: Teardown, sw: Swtpm) {
  const dir = tmpDir(t, 'bt-tpm2-tools-')
  const env = { ...process.env, TPM2TOOLS_TCTI: sw.tcti }
  const tool = async (name: string, ...args: string[]) => {
    try {
      const { stdout } = await run(name, args, { cwd: dir, env, timeout: 20_000 })
      await run('tpm2_flushcontext', ['-t'], { cwd: dir, env })
      await run('tpm2_flushcontext', ['-s'], { cwd: dir, env })
      return stdout
    } catch (e) {
      throw new Error(`${name} ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? String(e)}`)
    }
  }
  // The SRK template's unique field (x, y of 32 zero bytes), as tpm2-tools reads it: the C union, little-endian sizes.
  const unique = Buffer.alloc(260)
  unique.writeUInt16LE(32, 0)
  unique.writeUInt16LE(32, 130)
  writeFileSync(join(dir, 'unique.bin'), unique)
  await tool(
    'tpm2_createprimary',
    '-C',
    'o',
    '-g',
    'sha256',
    '-G',
    'ecc256:aes128cfb',
    '-a',
    ATTRS,
    '-u',
    'unique.bin',
    '-c',
    'primary.ctx',
  )
  await tool('tpm2_readpublic', '-c', 'primary.ctx', '-n', 'primary.name')
  return { dir, tool, primaryName: readFileSync(join(dir, 'primary.name')).toString('hex') }
}

function tpm2b(b: Uint8Array): Buffer {
  const size = Buffer.alloc(2)
  size.writeUInt16BE(b.length, 0)
  return Buffer.concat([size, b])
}

function unTpm2b(b: Buffer): string {
  assert.equal(b.readUInt16BE(0), b.length - 2)
  return b.subarray(2).toString('base64')
}

describe('tpm2-tools cross-check', () => {
  for (const pcrs of [[], [16]]) {
    const bound = pcrs.length ? ' (PCR 16 policy)' : ''
    test(`sealed by us, unsealed by tpm2_unseal${bound}`, async (t) => {
      const sw = await startSwtpm(t)
      const s = new Uint8Array(randomBytes(64))
      const record = (await protectSecret(s, {
        protection: 'tpm',
        tpm: sw.spec,
        pcrs,
        recovery: async () => newRecoveryCode(),
        kdf,
      })) as TpmRecord
      const { dir, tool, primaryName } = await tools(t, sw)
      assert.equal(primaryName, record.primaryName, 'same primary template → same primary')
      writeFileSync(join(dir, 'seal.pub'), tpm2b(Buffer.from(record.public, 'base64')))
      writeFileSync(join(dir, 'seal.priv'), tpm2b(Buffer.from(record.private, 'base64')))
      await tool('tpm2_load', '-C', 'primary.ctx', '-u', 'seal.pub', '-r', 'seal.priv', '-c', 'seal.ctx')
      const auth = pcrs.length ? ['-p', 'pcr:sha256:16'] : []
      await tool('tpm2_unseal', '-c', 'seal.ctx', ...auth, '-o', 'out.bin')
      assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'out.bin'))), s)
    })

    test(`sealed by tpm2_create, unsealed by us${bound}`, async (t) => {
      const sw = await startSwtpm(t)
      const { dir, tool, primaryName } = await tools(t, sw)
      const s = randomBytes(64)
      writeFileSync(join(dir, 'secret.bin'), s)
      const policy: string[] = []
      if (pcrs.length) {
        await tool('tpm2_createpolicy', '--policy-pcr', '-l', 'sha256:16', '-L', 'pcr.policy')
        policy.push('-L', 'pcr.policy', '-a', 'fixedtpm|fixedparent|noda')
      }
      await tool(
        'tpm2_create',
        '-C',
        'primary.ctx',
        '-i',
        'secret.bin',
        ...policy,
        '-u',
        'seal.pub',
        '-r',
        'seal.priv',
      )
      const record: TpmRecord = {
        protection: 'tpm',
        v: 1,
        primary: 'srk-ecc-p256',
        primaryName,
        public: unTpm2b(readFileSync(join(dir, 'seal.pub'))),
        private: unTpm2b(readFileSync(join(dir, 'seal.priv'))),
        pcrs,
        pcrValues: {},
      }
      assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), new Uint8Array(s))
    })
  }

  test('an owner hierarchy with a password (set by tpm2_changeauth) is a clear error', async (t) => {
    const sw = await startSwtpm(t)
    await run('tpm2_changeauth', ['-c', 'owner', 'ownerpw'], {
      env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti },
    })
    await assert.rejects(
      protectSecret(new Uint8Array(64), { protection: 'tpm', tpm: sw.spec }),
      /owner hierarchy has a password \(TPM_RC_BAD_AUTH \(session 1\)/,
    )
  })
})
