/** Where a node keeps everything it owns: its data dir ("home"). */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * The data dir: `--home DIR`, else `$BT_HOME`, else `$XDG_DATA_HOME/blocktree`,
 * else `~/.local/share/blocktree`. Always absolute.
 */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return resolve(flag)
  if (env.BT_HOME) return resolve(env.BT_HOME)
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share')
  return resolve(data, 'blocktree')
}

/** Files of a data dir (one place, so every layer agrees). */
export const HOME_FILES = {
  identity: 'identity.json',
  nodeDb: 'node.db',
  lock: 'lock.db',
  trees: 'trees',
  daemon: 'daemon.json',
  socket: 'bt.sock',
  log: 'node.log',
} as const
