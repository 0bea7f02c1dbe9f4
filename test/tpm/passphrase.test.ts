import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  DEFAULT_KDF,
  exportSecret,
  importSecret,
  newRecoveryCode,
  normalizeRecoveryCode,
  protectSecret,
  resealSecret,
  TpmError,
  unprotectSecret,
} from '../../tpm/index.js'

/** Cheap scrypt for tests; one test below runs the production cost. */
const kdf = { logN: 10, r: 8, p: 1 }
const pass = (p: string) => async () => p
const secret = () => new Uint8Array(randomBytes(64))

function code(c: string) {
  return (e: unknown) => {
    assert.ok(e instanceof TpmError, String(e))
    assert.equal(e.code, c, e.message)
    return true
  }
}

describe('passphrase mode', () => {
  test('round trip; the record holds no plaintext and says how it was made', async () => {
    const s = secret()
    const record = await protectSecret(s, {
      protection: 'passphrase',
      passphrase: pass('correct horse'),
      kdf,
    })
    assert.equal(record.protection, 'passphrase')
    assert.equal(record.kdf, 'scrypt')
    assert.equal(record.logN, 10)
    const json = JSON.stringify(record)
    for (const enc of ['hex', 'base64'] as const)
      assert.ok(!json.includes(Buffer.from(s.subarray(0, 16)).toString(enc)))
    assert.deepEqual(await unprotectSecret(record, { passphrase: pass('correct horse') }), s)
  })

  test('two protections of one secret differ (random salt and nonce)', async () => {
    const s = secret()
    const a = await protectSecret(s, { protection: 'passphrase', passphrase: pass('pw'), kdf })
    const b = await protectSecret(s, { protection: 'passphrase', passphrase: pass('pw'), kdf })
    assert.notEqual(a.salt, b.salt)
    assert.notEqual(a.ct, b.ct)
  })

  test('wrong, missing or empty passphrase: EPASSPHRASE', async () => {
    const record = await protectSecret(secret(), { protection: 'passphrase', passphrase: pass('right'), kdf })
    await assert.rejects(unprotectSecret(record, { passphrase: pass('wrong') }), code('EPASSPHRASE'))
    await assert.rejects(unprotectSecret(record, {}), code('EPASSPHRASE'))
    await assert.rejects(unprotectSecret(record, { passphrase: pass('') }), code('EPASSPHRASE'))
    await assert.rejects(protectSecret(secret(), { protection: 'passphrase', kdf }), code('EPASSPHRASE'))
  })

  test('NFC and NFD spellings of a passphrase are the same passphrase', async () => {
    const s = secret()
    const record = await protectSecret(s, { protection: 'passphrase', passphrase: pass('caf\u00e9'), kdf })
    assert.deepEqual(await unprotectSecret(record, { passphrase: pass('cafe\u0301') }), s)
  })

  test('an altered record is refused (ciphertext, salt, cost, shape)', async () => {
    const record = await protectSecret(secret(), { protection: 'passphrase', passphrase: pass('pw'), kdf })
    const ct = Buffer.from(record.ct as string, 'base64')
    ct[0] = (ct[0] as number) ^ 1
    await assert.rejects(
      unprotectSecret({ ...record, ct: ct.toString('base64') }, { passphrase: pass('pw') }),
      code('EPASSPHRASE'),
    )
    await assert.rejects(
      unprotectSecret({ ...record, logN: 11 }, { passphrase: pass('pw') }),
      code('EPASSPHRASE'),
    )
    await assert.rejects(
      unprotectSecret({ ...record, logN: 40 }, { passphrase: pass('pw') }),
      code('EBADRECORD'),
    )
    await assert.rejects(
      unprotectSecret({ ...record, salt: 'AA==' }, { passphrase: pass('pw') }),
      code('EBADRECORD'),
    )
    await assert.rejects(unprotectSecret({ ...record, v: 9 }, { passphrase: pass('pw') }), code('EBADRECORD'))
    await assert.rejects(unprotectSecret({ protection: 'bogus' as 'none', v: 1 }), code('EBADRECORD'))
  })

  test('production cost by default (N = 2^17, r = 8, p = 1)', async () => {
    assert.deepEqual(DEFAULT_KDF, { logN: 17, r: 8, p: 1 })
    const s = secret()
    const record = await protectSecret(s, { protection: 'passphrase', passphrase: pass('pw') })
    assert.equal(record.logN, 17)
    assert.deepEqual(await unprotectSecret(record, { passphrase: pass('pw') }), s)
  })

  test('resealSecret changes the mode: none → passphrase', async () => {
    const s = secret()
    const none = await protectSecret(s, { protection: 'none' })
    const record = await resealSecret(none, { protection: 'passphrase', passphrase: pass('pw'), kdf })
    assert.equal(record.protection, 'passphrase')
    assert.deepEqual(await unprotectSecret(record, { passphrase: pass('pw') }), s)
  })
})

describe('key backup (export / import)', () => {
  test('round trip through the armoured text and the raw bytes', async () => {
    const s = secret()
    const text = await exportSecret(s, 'backup pw', { kdf })
    assert.match(
      text,
      /^-----BEGIN BLOCKTREE KEY BACKUP-----\n[A-Za-z0-9+/=\n]+-----END BLOCKTREE KEY BACKUP-----\n$/,
    )
    assert.deepEqual(await importSecret(text, 'backup pw'), s)
    assert.deepEqual(await importSecret(Buffer.from(text), 'backup pw'), s)
    assert.deepEqual(await importSecret(`notes before\n${text}notes after`, 'backup pw'), s)
    const raw = Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64')
    assert.deepEqual(await importSecret(raw, 'backup pw'), s)
  })

  test('wrong passphrase: EPASSPHRASE; damage: EBADRECORD', async () => {
    const s = secret()
    const text = await exportSecret(s, 'backup pw', { kdf })
    await assert.rejects(importSecret(text, 'not it'), code('EPASSPHRASE'))
    const lines = text.split('\n')
    const l1 = lines[1] as string
    // One character in the middle of the ciphertext changed: the checksum, not the passphrase, is blamed.
    const flipped = [
      lines[0],
      l1.slice(0, 60) + (l1[60] === 'A' ? 'B' : 'A') + l1.slice(61),
      ...lines.slice(2),
    ].join('\n')
    await assert.rejects(importSecret(flipped, 'backup pw'), /checksum mismatch/)
    await assert.rejects(importSecret(text.replace(/-----END[^\n]*\n$/, ''), 'backup pw'), code('EBADRECORD'))
    await assert.rejects(importSecret('hello', 'backup pw'), code('EBADRECORD'))
    await assert.rejects(importSecret(new Uint8Array(3), 'backup pw'), code('EBADRECORD'))
    const raw = Buffer.from(lines.slice(1, -2).join(''), 'base64')
    await assert.rejects(importSecret(raw.subarray(0, raw.length - 1), 'backup pw'), code('EBADRECORD'))
  })

  test('a backup of another version is refused by name', async () => {
    const text = await exportSecret(secret(), 'pw', { kdf })
    const raw = Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64')
    raw[8] = 2
    // Recompute the checksum so only the version differs.
    const { createHash } = await import('node:crypto')
    const body = raw.subarray(0, raw.length - 8)
    createHash('sha256')
      .update(body)
      .digest()
      .copy(raw, raw.length - 8, 0, 8)
    await assert.rejects(importSecret(raw, 'pw'), (e: unknown) => {
      assert.ok(e instanceof TpmError && e.code === 'EBADRECORD')
      assert.match(e.message, /version 2/)
      return true
    })
  })
})

test('recovery codes: 160 bits in 8 groups of 4 unambiguous characters', () => {
  const a = newRecoveryCode()
  assert.match(a, /^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$/)
  assert.notEqual(a, newRecoveryCode())
  assert.equal(
    newRecoveryCode(() => new Uint8Array(20)),
    '0000-0000-0000-0000-0000-0000-0000-0000',
  )
  assert.equal(
    newRecoveryCode(() => new Uint8Array(20).fill(255)),
    'ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ',
  )
  assert.equal(normalizeRecoveryCode(' abcd-efgh 1234 '), 'ABCDEFGH1234')
})
