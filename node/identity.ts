/**
 * The node's identity and master secret, kept in `<home>/identity.json`.
 *
 * The master secret is 64 bytes: the Ed25519 identity seed (32) followed by
 * the key that wraps tree content keys (32). At rest it is protected by
 * tpm/ (`none`, `passphrase` or `tpm`); the key file records which, and the
 * node never falls back to a weaker mode on its own. The node id is the hex
 * Ed25519 public key; on load it is re-derived from the seed and compared, so
 * a wrong TPM or a damaged record is detected rather than producing another
 * identity. Layout and threat model: docs/KEYS.md.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Runtime, systemRuntime, toHex } from '../sync/runtime.js'
import { type ProtectedSecret, type ProtectOptions, protectSecret, unprotectSecret } from '../tpm/index.js'
import { TpmError, type UnprotectOptions } from '../tpm/types.js'
import type { KeyProtection } from './api-types.js'
import { HOME_FILES } from './home.js'
import { HomeLock } from './lock.js'
import { NodeError } from './node-error.js'
import { readRegistryWrapId, wrapKeyId } from './trees.js'

const FORMAT = 'blocktree-identity'
const VERSION = 1
/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

/** What a node holds in memory once its key file is unlocked. */
export interface Identity {
  nodeId: string
  protection: KeyProtection
  /** Ed25519 seed (32 bytes): the iroh secret key and the Hyperswarm key pair seed. */
  seed: Uint8Array
  /** Wraps tree content keys (32 bytes). */
  wrapKey: Uint8Array
  /** Shown on every start (e.g. the key is stored unprotected). */
  warning?: string
}

/** `identity.json` (docs/KEYS.md). */
export interface KeyFile {
  format: typeof FORMAT
  v: number
  nodeId: string
  protection: KeyProtection
  created: number
  /** Fingerprint of the wrap key (matches node.db's; see `wrapKeyId`). */
  wrapId?: string
  secret: ProtectedSecret
}

export interface InitOptions {
  home: string
  protection: KeyProtection
  runtime?: Runtime
  /** Passphrase source / TPM device / PCRs for the chosen protection. */
  protect?: Omit<ProtectOptions, 'protection'>
  /** An existing master secret (import from a backup) instead of a fresh one. */
  master?: Uint8Array
}

/** A key file for `master` protected as `protect` says. */
export async function makeKeyFile(
  master: Uint8Array,
  protect: ProtectOptions,
  created: number,
  subject: string,
): Promise<KeyFile> {
  let secret: ProtectedSecret
  try {
    secret = await protectSecret(master, protect)
  } catch (e) {
    throw keyError(e, subject)
  }
  return {
    format: FORMAT,
    v: VERSION,
    nodeId: publicKeyHex(master.subarray(0, 32)),
    protection: protect.protection,
    created,
    wrapId: wrapKeyId(master.subarray(32, 64)),
    secret,
  }
}

/** Write a key file atomically (mode 0600). */
export function writeKeyFile(file: string, record: KeyFile): void {
  writeAtomic(file, `${JSON.stringify(record, null, 2)}\n`)
}

/** Parse a key file without unlocking it (NodeError ENOTINIT / ECORRUPT). */
export function readKeyFile(home: string, name: string = HOME_FILES.identity): KeyFile {
  const file = join(home, name)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new NodeError('ENOTINIT', home, 'no node identity here (run bt init first)')
    throw new NodeError('ECORRUPT', file, `cannot read the key file: ${(e as Error).message}`)
  }
  return parseKeyFile(text, file)
}

/** The 64-byte master secret of an identity (seed || wrap key). */
export function masterOf(id: Identity): Uint8Array {
  const m = new Uint8Array(64)
  m.set(id.seed, 0)
  m.set(id.wrapKey, 32)
  return m
}

/** Create the data dir's identity; NodeError EINITIALIZED if one exists. */
export async function initNode(
  o: InitOptions,
): Promise<{ nodeId: string; protection: KeyProtection; warning?: string }> {
  const lock = await HomeLock.acquire(o.home, { waitMs: 2000 })
  try {
    const file = join(o.home, HOME_FILES.identity)
    if (existsSync(file)) {
      const nodeId = peekNodeId(file)
      throw new NodeError('EINITIALIZED', o.home, `already initialised${nodeId ? ` (node ${nodeId})` : ''}`)
    }
    const runtime = o.runtime ?? systemRuntime()
    const master = o.master ?? runtime.random.bytes(64)
    if (master.length !== 64) throw new NodeError('EKEY', o.home, 'a node master secret is 64 bytes')
    const record = await makeKeyFile(
      master,
      { ...o.protect, protection: o.protection },
      runtime.clock.now(),
      o.home,
    )
    const registryId = readRegistryWrapId(join(o.home, HOME_FILES.nodeDb))
    if (registryId !== undefined && registryId !== record.wrapId)
      throw new NodeError(
        'EKEY',
        o.home,
        'the trees in this data dir belong to another node key; nothing was changed',
      )
    writeKeyFile(file, record)
    const nodeId = record.nodeId
    const warning = warningFor(o.protection, file)
    return warning ? { nodeId, protection: o.protection, warning } : { nodeId, protection: o.protection }
  } finally {
    lock.release()
  }
}

/** Read and unlock the key file of `home` (the caller holds the data-dir lock). */
export async function loadIdentity(home: string, unlock: UnprotectOptions = {}): Promise<Identity> {
  const file = join(home, HOME_FILES.identity)
  const record = readKeyFile(home)
  let master: Uint8Array
  try {
    master = await unprotectSecret(record.secret, unlock)
  } catch (e) {
    throw keyError(e, file)
  }
  if (master.length !== 64 || publicKeyHex(master.subarray(0, 32)) !== record.nodeId)
    throw new NodeError(
      'EKEY',
      file,
      'the unlocked key does not match this node id (wrong key or damaged key file)',
    )
  const id: Identity = {
    nodeId: record.nodeId,
    protection: record.protection,
    seed: master.slice(0, 32),
    wrapKey: master.slice(32, 64),
  }
  const warning = warningFor(record.protection, file)
  if (warning) id.warning = warning
  return id
}

/** The hex Ed25519 public key of a 32-byte seed. */
export function publicKeyHex(seed: Uint8Array): string {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  return toHex(spki.subarray(spki.length - 32))
}

function parseKeyFile(text: string, file: string): KeyFile {
  let r: Partial<KeyFile>
  try {
    r = JSON.parse(text) as Partial<KeyFile>
  } catch {
    throw new NodeError('ECORRUPT', file, 'key file is not valid JSON (damaged data dir?)')
  }
  if (
    !r ||
    r.format !== FORMAT ||
    r.v !== VERSION ||
    typeof r.nodeId !== 'string' ||
    !/^[0-9a-f]{64}$/.test(r.nodeId) ||
    !['none', 'passphrase', 'tpm'].includes(r.protection as string) ||
    (r.wrapId !== undefined && !/^[0-9a-f]{16}$/.test(r.wrapId)) ||
    !r.secret ||
    typeof r.secret !== 'object' ||
    r.secret.protection !== r.protection
  )
    throw new NodeError('ECORRUPT', file, 'key file is not a Blocktree identity of a known version')
  return r as KeyFile
}

function peekNodeId(file: string): string | undefined {
  try {
    const id = (JSON.parse(readFileSync(file, 'utf8')) as { nodeId?: unknown }).nodeId
    return typeof id === 'string' ? id : undefined
  } catch {
    return undefined
  }
}

/** The warning a node shows on every start when its key is stored unprotected. */
export function warningFor(protection: KeyProtection, file: string): string | undefined {
  return protection === 'none'
    ? `the node key is stored UNPROTECTED in ${file} (anyone who can read it can impersonate this node and read its trees)`
    : undefined
}

/** A key failure as NodeError EKEY; the tpm/ error stays as `cause` (the CLI reads its code for hints). */
export function keyError(e: unknown, subject: string): NodeError {
  if (e instanceof NodeError) return e
  const err = new NodeError('EKEY', subject, e instanceof TpmError ? e.message : (e as Error).message)
  err.cause = e
  return err
}

/** Write a file so that a crash leaves either the old or the new content, never a torn one. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, data, { mode: 0o600 })
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  const dir = openSync(join(file, '..'), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
