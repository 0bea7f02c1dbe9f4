/**
 * Key maintenance on a data dir (no daemon may run: each takes the lock):
 * rotation of the wrap key, re-protection, export / import of an encrypted
 * backup, and recovery after the TPM refused (PCR change, TPM loss).
 * The key hierarchy and formats: docs/KEYS.md.
 */
import { existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Runtime, systemRuntime } from '../sync/runtime.js'
import { exportSecret, importSecret, protectSecret, resealSecret, unprotectSecret } from '../tpm/index.js'
import type { ProtectedSecret, ProtectOptions, UnprotectOptions } from '../tpm/types.js'
import type { KeyProtection } from './api-types.js'
import { HOME_FILES } from './home.js'
import {
  initNode,
  keyError,
  loadIdentity,
  makeKeyFile,
  masterOf,
  publicKeyHex,
  readKeyFile,
  warningFor,
  writeKeyFile,
} from './identity.js'
import { HomeLock } from './lock.js'
import { NodeError } from './node-error.js'
import { readRegistryWrapId, TreeRegistry } from './trees.js'

const NEXT = `${HOME_FILES.identity}.next`

export interface KeyResult {
  nodeId: string
  protection: KeyProtection
  warning?: string
}

/**
 * Finish or undo a rotation interrupted by a crash. The rotation writes the
 * new key file as `identity.json.next`, then re-wraps the tree keys in one
 * node.db transaction that records the new wrap key's fingerprint, then
 * renames the new key file into place. Whichever fingerprint node.db holds
 * decides: if it is the new one, the rename is completed; otherwise the
 * unused `.next` is removed. The caller holds the lock.
 */
export function settleRotation(home: string): void {
  const next = join(home, NEXT)
  if (!existsSync(next)) return
  let nextId: string | undefined
  try {
    nextId = readKeyFile(home, NEXT).wrapId
  } catch {
    nextId = undefined
  }
  const registryId = readRegistryWrapId(join(home, HOME_FILES.nodeDb))
  if (nextId !== undefined && registryId === nextId) renameSync(next, join(home, HOME_FILES.identity))
  else rmSync(next, { force: true })
}

/**
 * `bt key rotate`: a new wrap key (every tree key re-wrapped) sealed as
 * `protect` says (default: the current mode). The identity seed, and so the
 * node id, stay.
 */
export async function rotateKey(o: {
  home: string
  unlock?: UnprotectOptions
  protect?: ProtectOptions
  runtime?: Runtime
}): Promise<KeyResult & { rewrapped: number }> {
  const runtime = o.runtime ?? systemRuntime()
  return withLock(o.home, async () => {
    const id = await loadIdentity(o.home, o.unlock)
    const master = masterOf(id)
    master.set(runtime.random.bytes(32), 32)
    const protect: ProtectOptions = o.protect ?? { ...o.unlock, protection: id.protection }
    const record = await makeKeyFile(master, protect, runtime.clock.now(), o.home)
    writeKeyFile(join(o.home, NEXT), record)
    let rewrapped = 0
    const registry = new TreeRegistry(join(o.home, HOME_FILES.nodeDb), id.wrapKey, runtime.random)
    try {
      rewrapped = registry.rewrapAll(master.subarray(32, 64))
    } finally {
      registry.close()
    }
    settleRotation(o.home)
    return { ...result(record.nodeId, record.protection, o.home), rewrapped }
  })
}

/**
 * Re-protect the same master secret (other mode, other PCRs, a new TPM, a new
 * passphrase). With `recovery` in `unlock`, this is also the way back after
 * the TPM refused (PCR change, TPM replaced): the recovery copy is opened and
 * the secret sealed again.
 */
export async function reprotectKey(o: {
  home: string
  unlock?: UnprotectOptions
  protect: Partial<ProtectOptions> & { newRecovery?: () => Promise<string> }
}): Promise<KeyResult> {
  return withLock(o.home, async () => {
    const file = readKeyFile(o.home)
    const path = join(o.home, HOME_FILES.identity)
    const protection = o.protect.protection ?? file.protection
    let secret: ProtectedSecret
    try {
      if (protection === 'tpm' && !o.protect.newRecovery) {
        // Keeps the record's recovery copy (and PCR list unless new ones are given).
        secret = await resealSecret(file.secret, { ...o.unlock, ...o.protect, protection })
      } else {
        const master = await unprotectSecret(file.secret, o.unlock ?? {})
        const { newRecovery, ...rest } = o.protect
        secret = await protectSecret(master, {
          ...rest,
          protection,
          ...(newRecovery ? { recovery: newRecovery } : {}),
        })
      }
    } catch (e) {
      throw keyError(e, path)
    }
    writeKeyFile(path, { ...file, protection, secret })
    return result(file.nodeId, protection, o.home)
  })
}

/** `bt key export`: the master secret encrypted under a backup passphrase (armoured text). */
export async function exportKey(o: {
  home: string
  unlock?: UnprotectOptions
  passphrase: string
}): Promise<string> {
  return withLock(o.home, async () => {
    const id = await loadIdentity(o.home, o.unlock)
    try {
      return await exportSecret(masterOf(id), o.passphrase)
    } catch (e) {
      throw keyError(e, o.home)
    }
  })
}

/**
 * `bt key import`: restore a master secret from a backup into a data dir that
 * has no identity (a new machine, or after the key file was lost), protected
 * as `protect` says. A data dir whose trees belong to another key is refused.
 */
export async function importKey(o: {
  home: string
  backup: string | Uint8Array
  passphrase: string
  protect: ProtectOptions
  runtime?: Runtime
}): Promise<KeyResult> {
  let master: Uint8Array
  try {
    master = await importSecret(o.backup, o.passphrase)
  } catch (e) {
    throw keyError(e, 'backup')
  }
  if (master.length !== 64) throw new NodeError('EKEY', 'backup', 'the backup does not hold a node key')
  const { protection, ...protect } = o.protect
  const r = await initNode({
    home: o.home,
    protection,
    protect,
    master,
    ...(o.runtime ? { runtime: o.runtime } : {}),
  })
  if (r.nodeId !== publicKeyHex(master.subarray(0, 32)))
    throw new NodeError('EKEY', o.home, 'import mismatch')
  return r
}

function result(nodeId: string, protection: KeyProtection, home: string): KeyResult {
  const warning = warningFor(protection, join(home, HOME_FILES.identity))
  return warning ? { nodeId, protection, warning } : { nodeId, protection }
}

async function withLock<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const lock = await HomeLock.acquire(home, { waitMs: 2000 }).catch((e) => {
    if (e instanceof NodeError && e.code === 'ELOCKED')
      throw new NodeError('ELOCKED', home, `${e.message}; stop the node first (bt down)`)
    throw e
  })
  try {
    settleRotation(home)
    return await fn()
  } finally {
    lock.release()
  }
}
