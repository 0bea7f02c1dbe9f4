import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { TpmClient } from '../../tpm/client.js'
import {
  defaultProtection,
  detectTpm,
  newRecoveryCode,
  protectSecret,
  resealSecret,
  TpmError,
  type TpmRecord,
  unprotectSecret,
} from '../../tpm/index.js'
import { startSwtpm } from '../helpers/swtpm.js'

process.env.BT_NETWORK ??= 'loopback'

/** Cheap scrypt for recovery copies in tests; production uses N = 2^17. */
const kdf = { logN: 10, r: 8, p: 1 }
const secret = () => new Uint8Array(randomBytes(64))

async function extend(spec: string, pcr: number): Promise<void> {
  const c = await TpmClient.open(spec)
  try {
    await c.pcrExtend(pcr, randomBytes(32))
  } finally {
    await c.close()
  }
}

function rejectsWith(code: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TpmError, `expected a TpmError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  }
}

describe('tpm mode on swtpm', () => {
  for (const unix of [false, true]) {
    test(`seal and unseal over ${unix ? 'a Unix socket' : 'TCP'}, also after an swtpm restart`, async (t) => {
      const sw = await startSwtpm(t, { unix })
      const s = secret()
      const record = await protectSecret(s, { protection: 'tpm', tpm: sw.spec })
      assert.equal(record.protection, 'tpm')
      assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), s)
      await sw.restart()
      assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), s)
    })
  }

  test('a TPM that was never started gets TPM2_Startup from us', async (t) => {
    const sw = await startSwtpm(t, { noStartup: true })
    const raw = await TpmClient.open(sw.spec)
    await assert.rejects(raw.getRandom(4), rejectsWith('ETPM', /TPM_RC_INITIALIZE/))
    await raw.close()
    const s = secret()
    assert.deepEqual(
      await unprotectSecret(await protectSecret(s, { protection: 'tpm', tpm: sw.spec }), { tpm: sw.spec }),
      s,
    )
  })

  test('the record holds no plaintext secret', async (t) => {
    const sw = await startSwtpm(t)
    const s = secret()
    const json = JSON.stringify(await protectSecret(s, { protection: 'tpm', tpm: sw.spec }))
    for (const part of [s, s.subarray(0, 32), s.subarray(32)]) {
      const b = Buffer.from(part)
      for (const enc of ['hex', 'base64', 'base64url'] as const)
        assert.ok(!json.includes(b.toString(enc)), enc)
      assert.ok(!Buffer.from(json).includes(b.subarray(0, 16)))
    }
  })

  test("another TPM's state: EWRONGTPM, the record is left as it was", async (t) => {
    const a = await startSwtpm(t)
    const b = await startSwtpm(t)
    const record = await protectSecret(secret(), { protection: 'tpm', tpm: a.spec })
    const before = JSON.stringify(record)
    await assert.rejects(unprotectSecret(record, { tpm: b.spec }), rejectsWith('EWRONGTPM', /another TPM/))
    assert.equal(JSON.stringify(record), before)
    // The first TPM still unseals it.
    await unprotectSecret(record, { tpm: a.spec })
  })

  test('BT_TPM names the TPM when no spec is given; detectTpm and defaultProtection', async (t) => {
    const sw = await startSwtpm(t)
    const old = process.env.BT_TPM
    t.after(() => {
      if (old === undefined) delete process.env.BT_TPM
      else process.env.BT_TPM = old
    })
    process.env.BT_TPM = sw.spec
    const s = secret()
    assert.deepEqual(await unprotectSecret(await protectSecret(s, { protection: 'tpm' })), s)
    assert.deepEqual(await detectTpm(), { present: true, spec: sw.spec })
    assert.equal(await defaultProtection(), 'tpm')
    const missing = await detectTpm('/nonexistent/tpmrm0')
    assert.equal(missing.present, false)
    assert.match(missing.reason ?? '', /ENOENT/)
    assert.equal(await defaultProtection('/nonexistent/tpmrm0'), 'passphrase')
  })

  test('no TPM at the spec: ENOTPM', async () => {
    await assert.rejects(
      protectSecret(secret(), { protection: 'tpm', tpm: '/nonexistent/tpmrm0' }),
      rejectsWith('ENOTPM'),
    )
    await assert.rejects(
      protectSecret(secret(), { protection: 'tpm', tpm: 'swtpm:nohostport' }),
      rejectsWith('ENOTPM'),
    )
  })

  test('PCR-bound seal: extending PCR 16 makes unseal fail clearly; the recovery code unlocks and re-seals', async (t) => {
    const sw = await startSwtpm(t)
    const s = secret()
    const code = newRecoveryCode()
    const record = (await protectSecret(s, {
      protection: 'tpm',
      tpm: sw.spec,
      pcrs: [16, 23],
      recovery: async () => code,
      kdf,
    })) as TpmRecord
    assert.deepEqual(record.pcrs, [16, 23])
    assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), s)

    await extend(sw.spec, 16)
    await assert.rejects(
      unprotectSecret(record, { tpm: sw.spec }),
      rejectsWith('EPCR', /PCR 16 changed since the key was sealed.*recovery code/),
    )
    // A wrong recovery code is refused, not silently accepted.
    await assert.rejects(
      unprotectSecret(record, { tpm: sw.spec, recovery: async () => newRecoveryCode() }),
      rejectsWith('EPASSPHRASE'),
    )
    // The code as a person types it: lower case, spaces instead of dashes.
    const typed = code.toLowerCase().replaceAll('-', ' ')
    assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec, recovery: async () => typed }), s)

    const resealed = (await resealSecret(record, { tpm: sw.spec, recovery: async () => code })) as TpmRecord
    assert.deepEqual(resealed.pcrs, [16, 23])
    assert.deepEqual(resealed.recovery, record.recovery, 'the recovery copy is carried over')
    assert.notEqual(resealed.pcrValues['16'], record.pcrValues['16'])
    assert.deepEqual(await unprotectSecret(resealed, { tpm: sw.spec }), s)

    await extend(sw.spec, 23)
    await assert.rejects(unprotectSecret(resealed, { tpm: sw.spec }), rejectsWith('EPCR', /PCR 23 changed/))
  })

  test('a PCR-bound seal without a recovery code is refused', async (t) => {
    const sw = await startSwtpm(t)
    await assert.rejects(
      protectSecret(secret(), { protection: 'tpm', tpm: sw.spec, pcrs: [16] }),
      rejectsWith('EPCR', /recovery code/),
    )
    await assert.rejects(
      protectSecret(secret(), {
        protection: 'tpm',
        tpm: sw.spec,
        pcrs: [24],
        recovery: async () => 'x',
        kdf,
      }),
      rejectsWith('EPCR', /0\.\.23/),
    )
  })

  test('the recovery code also stands in for a lost TPM', async (t) => {
    const a = await startSwtpm(t)
    const b = await startSwtpm(t)
    const s = secret()
    const code = newRecoveryCode()
    const record = await protectSecret(s, { protection: 'tpm', tpm: a.spec, recovery: async () => code, kdf })
    await a.stop()
    assert.deepEqual(await unprotectSecret(record, { tpm: a.spec, recovery: async () => code }), s)
    // Move the key to another TPM.
    const code2 = newRecoveryCode()
    const moved = await resealSecret(record, {
      tpm: b.spec,
      recovery: async () => code,
      newRecovery: async () => code2,
      kdf,
    })
    assert.deepEqual(await unprotectSecret(moved, { tpm: b.spec }), s)
    await b.stop()
    await assert.rejects(
      unprotectSecret(moved, { tpm: b.spec, recovery: async () => code }),
      rejectsWith('EPASSPHRASE'),
    )
    assert.deepEqual(await unprotectSecret(moved, { tpm: b.spec, recovery: async () => code2 }), s)
  })

  test('a damaged or altered record: EBADRECORD, never a wrong secret', async (t) => {
    const sw = await startSwtpm(t)
    const record = (await protectSecret(secret(), { protection: 'tpm', tpm: sw.spec })) as TpmRecord
    const priv = Buffer.from(record.private, 'base64')
    priv[priv.length - 1] = (priv[priv.length - 1] as number) ^ 1
    await assert.rejects(
      unprotectSecret({ ...record, private: priv.toString('base64') }, { tpm: sw.spec }),
      rejectsWith('EBADRECORD', /TPM_RC_INTEGRITY/),
    )
    await assert.rejects(
      unprotectSecret({ ...record, pcrs: 'x' }, { tpm: sw.spec }),
      rejectsWith('EBADRECORD'),
    )
    await assert.rejects(unprotectSecret({ ...record, v: 2 }, { tpm: sw.spec }), rejectsWith('EBADRECORD'))
    // Dropping the PCR list from a PCR-bound record does not bypass the policy.
    const code = newRecoveryCode()
    const bound = (await protectSecret(secret(), {
      protection: 'tpm',
      tpm: sw.spec,
      pcrs: [16],
      recovery: async () => code,
      kdf,
    })) as TpmRecord
    await assert.rejects(
      unprotectSecret({ ...bound, pcrs: [] }, { tpm: sw.spec }),
      rejectsWith('ETPM', /AUTH_UNAVAILABLE|POLICY|AUTH/),
    )
  })

  test('many seals and unseals leave no contexts behind (no resource manager)', async (t) => {
    const sw = await startSwtpm(t)
    const s = secret()
    const record = await protectSecret(s, { protection: 'tpm', tpm: sw.spec })
    // swtpm holds 3 transient objects and 64 sessions: a leak fails within a few rounds.
    for (let i = 0; i < 8; i++) assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), s)
    await assert.rejects(
      unprotectSecret({ ...record, private: Buffer.alloc(40).toString('base64') }, { tpm: sw.spec }),
      rejectsWith('EBADRECORD'),
    )
    for (let i = 0; i < 4; i++) assert.deepEqual(await unprotectSecret(record, { tpm: sw.spec }), s)
  })
})
