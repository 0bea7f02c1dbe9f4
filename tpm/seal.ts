/**
 * The `tpm` protection mode: the master secret lives in a sealed data object
 * under the TPM's storage primary key, which is recreated from the owner
 * hierarchy on every start (deterministic SRK template: no persistent handle).
 * Create and Unseal run in salted sessions with AES-128-CFB parameter
 * encryption, so the secret never crosses the bus in clear. The record keeps
 * the object's public/private blobs (the private part is encrypted by the
 * primary, so it is useless without this TPM), the primary's name (to tell
 * "another TPM" apart from other failures), the bound PCRs with their values
 * at seal time (to say which one changed) and an optional recovery copy
 * wrapped by a recovery code. See docs/KEYS.md.
 */

import { type Primary, type RandomFn, type Session, TpmClient } from './client.js'
import { SE } from './constants.js'
import type { WrappedSecret } from './passphrase.js'
import { RC_FMT1, rcBase, rcName } from './rc.js'
import { normalizePcrs, primaryTemplate, sealedTemplate } from './structures.js'
import { resolveTpmSpec } from './transport.js'
import { type ProtectedSecret, TpmError } from './types.js'

/** Version 1 of the `tpm` record. */
export interface TpmRecord extends ProtectedSecret {
  protection: 'tpm'
  v: 1
  /** Which primary template: the TCG SRK profile, ECC P-256. */
  primary: 'srk-ecc-p256'
  /** Name of the primary at seal time (hex): this TPM's fingerprint. */
  primaryName: string
  /** TPMT_PUBLIC of the sealed object (base64). */
  public: string
  /** TPM2B_PRIVATE contents of the sealed object (base64), encrypted by the primary. */
  private: string
  /** PCRs (SHA-256 bank) the seal is bound to; empty: none. */
  pcrs: number[]
  /** Their values when sealed (hex), for the message when one changed. Not secret. */
  pcrValues: Record<string, string>
  /** The secret wrapped by a recovery code (passphrase.ts), if one was given. */
  recovery?: WrappedSecret
}

/** Largest secret a sealed data object holds (MAX_SYM_DATA). */
export const MAX_SEALED_BYTES = 128

export interface TpmUseOptions {
  /** Which TPM; default `$BT_TPM`, else `/dev/tpmrm0`. */
  tpm?: string
  random?: RandomFn
  /** Deadline per TPM response (ms). */
  timeoutMs?: number
}

/** Open the TPM named by `spec` (resolved with `$BT_TPM`); sends Startup to software TPMs. */
export async function openTpm(o: TpmUseOptions = {}): Promise<TpmClient> {
  const spec = resolveTpmSpec(o.tpm)
  const client = await TpmClient.open(spec, {
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.random ? { random: o.random } : {}),
  })
  try {
    // A device behind the kernel is started by the kernel; a socket TPM may have been started bare.
    if (spec.startsWith('swtpm:') || spec.startsWith('unix:')) await client.startup()
  } catch (e) {
    await client.close()
    throw e
  }
  return client
}

/** Run `fn` with the recreated storage primary, flushing it afterwards. */
export async function withPrimary<T>(c: TpmClient, fn: (p: Primary) => Promise<T>): Promise<T> {
  let p: Primary
  try {
    p = await c.createPrimary(primaryTemplate())
  } catch (e) {
    const base = e instanceof TpmError && e.rc !== undefined ? rcBase(e.rc) : undefined
    if (base === RC_FMT1.BAD_AUTH || base === RC_FMT1.AUTH_FAIL)
      throw new TpmError(
        'ETPM',
        `the TPM's owner hierarchy has a password (${rcName((e as TpmError).rc ?? 0)}); blocktree recreates its storage key under an owner hierarchy without one (the default)`,
        (e as TpmError).rc,
      )
    throw e
  }
  try {
    return await fn(p)
  } finally {
    await c.flushQuietly(p.handle)
  }
}

/** The policy digest of "these PCRs have their current values", from a trial session. */
async function pcrPolicy(c: TpmClient, pcrs: number[]): Promise<Uint8Array> {
  const trial = await c.startSession(SE.TRIAL)
  try {
    await c.policyPcr(trial, pcrs)
    return await c.policyGetDigest(trial)
  } finally {
    await c.flushQuietly(trial.handle)
  }
}

async function pcrHex(c: TpmClient, pcrs: number[]): Promise<Record<string, string>> {
  const values = pcrs.length ? await c.pcrRead(pcrs) : new Map<number, Uint8Array>()
  return Object.fromEntries([...values].map(([i, v]) => [String(i), Buffer.from(v).toString('hex')]))
}

/** Seal `secret` to the TPM (bound to `pcrs` if any). */
export async function sealToTpm(
  secret: Uint8Array,
  o: TpmUseOptions & { pcrs?: number[]; recovery?: WrappedSecret },
): Promise<TpmRecord> {
  if (secret.length === 0 || secret.length > MAX_SEALED_BYTES)
    throw new TpmError(
      'EBADRECORD',
      `a sealed secret must be 1..${MAX_SEALED_BYTES} bytes, not ${secret.length}`,
    )
  const pcrs = normalizePcrs(o.pcrs)
  const c = await openTpm(o)
  try {
    return await withPrimary(c, async (primary) => {
      const policy = pcrs.length ? await pcrPolicy(c, pcrs) : undefined
      const pcrValues = await pcrHex(c, pcrs)
      const session = await c.startSession(SE.HMAC, primary)
      let sealed: { privateBlob: Uint8Array; publicArea: Uint8Array }
      try {
        sealed = await c.createSealed(primary, session, secret, sealedTemplate(policy))
      } catch (e) {
        // On success the session ended with the command (no continueSession); on failure it is still loaded.
        await c.flushQuietly(session.handle)
        throw e
      }
      const record: TpmRecord = {
        protection: 'tpm',
        v: 1,
        primary: 'srk-ecc-p256',
        primaryName: Buffer.from(primary.name).toString('hex'),
        public: Buffer.from(sealed.publicArea).toString('base64'),
        private: Buffer.from(sealed.privateBlob).toString('base64'),
        pcrs,
        pcrValues,
      }
      if (o.recovery) record.recovery = o.recovery
      return record
    })
  } finally {
    await c.close()
  }
}

/** Check the shape of a `tpm` record; EBADRECORD otherwise. */
export function checkTpmRecord(r: ProtectedSecret): TpmRecord {
  const t = r as Partial<TpmRecord>
  const ok =
    t.protection === 'tpm' &&
    t.v === 1 &&
    t.primary === 'srk-ecc-p256' &&
    typeof t.primaryName === 'string' &&
    /^[0-9a-f]+$/.test(t.primaryName) &&
    typeof t.public === 'string' &&
    typeof t.private === 'string' &&
    Array.isArray(t.pcrs) &&
    t.pcrs.every((p) => Number.isInteger(p) && p >= 0 && p <= 23) &&
    typeof t.pcrValues === 'object' &&
    t.pcrValues !== null
  if (!ok) throw new TpmError('EBADRECORD', 'TPM key record is malformed')
  return t as TpmRecord
}

/** Unseal a `tpm` record on the TPM it was sealed by. */
export async function unsealFromTpm(record: ProtectedSecret, o: TpmUseOptions = {}): Promise<Uint8Array> {
  const rec = checkTpmRecord(record)
  const hint = rec.recovery ? '; unlock with the recovery code, then re-seal' : '; restore from a key backup'
  const c = await openTpm(o)
  try {
    return await withPrimary(c, async (primary) => {
      const have = Buffer.from(primary.name).toString('hex')
      if (have !== rec.primaryName)
        throw new TpmError(
          'EWRONGTPM',
          `this key was sealed by another TPM (or this TPM's owner hierarchy was cleared): storage key ${short(rec.primaryName)}, this TPM has ${short(have)}${hint}`,
        )
      let item: { handle: number; name: Uint8Array }
      try {
        item = await c.load(primary, Buffer.from(rec.private, 'base64'), Buffer.from(rec.public, 'base64'))
      } catch (e) {
        if (e instanceof TpmError && e.code === 'ETPM')
          throw new TpmError(
            'EBADRECORD',
            `the TPM rejected the sealed key blob (${rcName(e.rc ?? 0)}): damaged key file${hint}`,
            e.rc,
          )
        throw e
      }
      let session: Session | undefined
      try {
        session = await c.startSession(rec.pcrs.length ? SE.POLICY : SE.HMAC, primary)
        if (rec.pcrs.length) await c.policyPcr(session, rec.pcrs)
        return await c.unseal(item, session)
      } catch (e) {
        // A successful Unseal ends the session (no continueSession); after a failure it is still loaded.
        await c.flushQuietly(session?.handle)
        if (e instanceof TpmError && e.rc !== undefined && rcBase(e.rc) === RC_FMT1.POLICY_FAIL)
          throw new TpmError('EPCR', `${await changedPcrs(c, rec)}${hint}`, e.rc)
        throw e
      } finally {
        await c.flushQuietly(item.handle)
      }
    })
  } finally {
    await c.close()
  }
}

/** "PCR 16 changed since the key was sealed", naming which of the bound PCRs differ now. */
async function changedPcrs(c: TpmClient, rec: TpmRecord): Promise<string> {
  try {
    const now = await pcrHex(c, rec.pcrs)
    const changed = rec.pcrs.filter((p) => now[String(p)] !== rec.pcrValues[String(p)])
    if (changed.length)
      return `the TPM refuses to unseal: PCR ${changed.join(', ')} changed since the key was sealed (firmware, boot chain or configuration change)`
  } catch {
    // Fall through to the general message.
  }
  return `the TPM refuses to unseal: the bound PCRs (${rec.pcrs.join(', ')}) do not have the values the key was sealed to`
}

function short(nameHex: string): string {
  return nameHex.slice(4, 20)
}
