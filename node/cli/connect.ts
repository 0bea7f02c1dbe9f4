/**
 * How a command reaches its node: the running daemon of the data dir if
 * there is one (node/daemon `openApi`), else the data dir opened in this
 * process under its lock, waiting a little for another short-lived `bt`
 * command to finish. Heavy modules load on demand so `bt --help` stays fast.
 */

import type { UnprotectOptions } from '../../tpm/types.js'
import type { NodeApi } from '../api-types.js'

/** How long a command waits for the data-dir lock held by another `bt` command. */
export const LOCK_WAIT_MS = 5000

/** The daemon module's entry points the CLI uses (node/daemon/index.ts). */
export interface DaemonModule {
  openApi(o: {
    home: string
    unlock?: UnprotectOptions
    lockWaitMs?: number
  }): Promise<NodeApi & { readonly remote: boolean }>
  runDaemon(o: {
    home: string
    unlock?: UnprotectOptions
    log?: (line: string) => void
    onReady?: (info: { pid: number; socket: string }) => void
    graceMs?: number
    signals?: boolean
  }): Promise<void>
  startDetached(o: {
    home: string
    args: string[]
    timeoutMs?: number
  }): Promise<{ pid: number; socket: string }>
  stopDaemon(o: { home: string; timeoutMs?: number }): Promise<boolean>
  daemonInfo(home: string): Promise<{ pid: number; socket: string } | undefined>
}

/** The daemon module, or undefined while this build has none. */
export async function loadDaemon(): Promise<DaemonModule | undefined> {
  // A variable specifier: the module is optional until node/daemon lands.
  const spec = '../daemon/index.js'
  try {
    return (await import(spec)) as DaemonModule
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(e).includes('daemon'))
      return undefined
    throw e
  }
}

/** Key unlocking from the environment: BT_PASSPHRASE (passphrase mode), BT_TPM (TPM device). */
export function unlockFromEnv(env: NodeJS.ProcessEnv): UnprotectOptions {
  const u: UnprotectOptions = {}
  const pass = env.BT_PASSPHRASE
  if (pass !== undefined) u.passphrase = async () => pass
  if (env.BT_TPM) u.tpm = env.BT_TPM
  return u
}

export async function connect(home: string, env: NodeJS.ProcessEnv): Promise<NodeApi> {
  const unlock = unlockFromEnv(env)
  const daemon = await loadDaemon()
  if (daemon) return daemon.openApi({ home, unlock, lockWaitMs: LOCK_WAIT_MS })
  const { openLocalNode } = await import('../local-node.js')
  return openLocalNode({ home, unlock, lockWaitMs: LOCK_WAIT_MS })
}
