/**
 * The two ways a `bt` command reaches its node: opening the data dir itself
 * (no daemon) or through a running `bt up --detach`. The end-to-end suite runs
 * every case in both and compares what users see.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { bt, ok } from './helpers.js'

export type Mode = 'local' | 'daemon'

/** The daemon mode needs node/daemon in this build. */
export function daemonAvailable(): boolean {
  return existsSync(fileURLToPath(new URL('../../node/daemon/index.js', import.meta.url)))
}

/** Initialise `home` with one tree `docs`; in daemon mode start `bt up --detach`. */
export function setupHome(home: string, mode: Mode): void {
  ok(bt(home, ['init', '--key-protection', 'none']))
  ok(bt(home, ['tree', 'create', 'docs']))
  if (mode === 'daemon') ok(bt(home, ['up', '--detach']))
}

export function teardownHome(home: string, mode: Mode): void {
  if (mode === 'daemon') bt(home, ['down'])
}
