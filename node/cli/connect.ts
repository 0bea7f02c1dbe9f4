/**
 * How a command reaches its node: the running daemon of the data dir if
 * there is one, else the data dir opened in this process under its lock
 * (node/daemon `openApi`, waiting a little for another short-lived `bt`
 * command). Modules load on demand: `bt --help` pays for neither SQLite nor
 * Automerge, and a command served by the daemon skips loading the node core.
 */
import type { UnprotectOptions } from '../../tpm/types.js'
import type { NodeApi } from '../api-types.js'
import { passphraseSource } from './passphrase.js'

/** How long a command waits for the data-dir lock held by another `bt` command. */
export const LOCK_WAIT_MS = 5000

/**
 * How to unlock (or, with `confirm`, protect) the node key: the passphrase
 * from BT_PASSPHRASE or a terminal prompt, the TPM named by BT_TPM.
 */
export function unlockFromEnv(env: NodeJS.ProcessEnv, confirm = false): UnprotectOptions {
  const u: UnprotectOptions = {}
  const pass = passphraseSource(env, confirm)
  if (pass) u.passphrase = pass
  if (env.BT_TPM) u.tpm = env.BT_TPM
  return u
}

export async function connect(home: string, env: NodeJS.ProcessEnv): Promise<NodeApi> {
  const { daemonInfo } = await import('../daemon/control.js')
  const info = await daemonInfo(home)
  if (info) {
    const { RemoteApi } = await import('../daemon/client.js')
    const api = await RemoteApi.connect(info.socket).catch(() => undefined)
    if (api) return api
  }
  // No daemon (or it just stopped): openApi opens the data dir, still watching for a daemon while it waits.
  const { openApi } = await import('../daemon/open-api.js')
  return openApi({ home, unlock: unlockFromEnv(env), lockWaitMs: LOCK_WAIT_MS })
}
