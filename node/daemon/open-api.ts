/**
 * What every `bt` command uses to reach its node: the running daemon's local
 * API when there is one, else the data dir opened in this process. Both are
 * the same `NodeApi`, which is what makes results identical either way.
 */
import type { UnprotectOptions } from '../../tpm/types.js'
import type { NodeApi } from '../api-types.js'
import { openLocalNode } from '../local-node.js'
import { NodeError } from '../node-error.js'
import { RemoteApi } from './client.js'
import { daemonInfo } from './control.js'

export interface OpenApiOptions {
  home: string
  /** How to unlock the key when the data dir is opened in-process. */
  unlock?: UnprotectOptions
  /** How long to wait for the lock held by another short-lived bt command (default 0). */
  lockWaitMs?: number
}

/** A NodeApi that says whether it talks to a daemon (`remote`) or to the data dir in this process. */
export type OpenedApi = NodeApi & { readonly remote: boolean }

/** Lock waits are sliced so a daemon that starts meanwhile is found. */
const SLICE_MS = 250

/** Connect to the daemon of `home`, or open its data dir in-process when none runs. */
export async function openApi(o: OpenApiOptions): Promise<OpenedApi> {
  const deadline = Date.now() + (o.lockWaitMs ?? 0)
  for (;;) {
    const info = await daemonInfo(o.home)
    if (info) {
      try {
        return await RemoteApi.connect(info.socket)
      } catch (e) {
        if (Date.now() >= deadline) throw e
        continue // it stopped between the check and the connect
      }
    }
    try {
      const node = await openLocalNode({
        home: o.home,
        lockWaitMs: Math.max(0, Math.min(SLICE_MS, deadline - Date.now())),
        ...(o.unlock ? { unlock: o.unlock } : {}),
      })
      return Object.defineProperty(node, 'remote', { value: false, enumerable: true }) as typeof node & {
        remote: boolean
      }
    } catch (e) {
      if (!(e instanceof NodeError && e.code === 'ELOCKED') || Date.now() >= deadline) throw e
    }
  }
}
