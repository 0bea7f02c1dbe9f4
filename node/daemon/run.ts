/**
 * `bt up` in the foreground: the daemon process. It holds the data dir's
 * lock, serves the LocalNode on the Unix socket, and stops gracefully on
 * SIGTERM/SIGINT or a `shutdown` request.
 */
import { chmodSync } from 'node:fs'
import { dirname } from 'node:path'
import { systemRuntime } from '../../sync/runtime.js'
import type { UnprotectOptions } from '../../tpm/types.js'
import { type LocalNode, openLocalNode } from '../local-node.js'
import { NodeError } from '../node-error.js'
import { type Replication, startReplication } from '../replication.js'
import { mergeConfig, type ReplicationConfig, readConfigFile } from '../replication-config.js'
import { BT_VERSION } from '../version.js'
import { alreadyRunning, daemonInfo } from './control.js'
import { ensurePrivateDir, removeDaemonFiles, socketPathFor, writeDaemonFile } from './daemon-file.js'
import { startMounts } from './daemon-mounts.js'
import { watchOwner } from './owner-watch.js'
import { ApiServer } from './server.js'

export interface RunDaemonOptions {
  home: string
  unlock?: UnprotectOptions
  /** Log sink, one line per call (default: stderr, each line prefixed with an ISO time). */
  log?: (line: string) => void
  /** Called once the node serves. */
  onReady?: (info: { pid: number; socket: string }) => void
  /** How long in-flight requests may take to finish on stop before they are aborted (default 10 s). */
  graceMs?: number
  /** Handle SIGTERM/SIGINT (default true; tests running a daemon in-process pass false). */
  signals?: boolean
  /** How long to wait for the data dir's lock held by a short-lived bt command (default 2 s). */
  lockWaitMs?: number
  /** Resolves (or aborts) to request a stop, like a signal would (tests). */
  stop?: AbortSignal
  /** Trees to serve through FUSE (`bt up --mount TREE=DIR`); if one cannot be mounted, the node does not start. */
  mounts?: { tree: string; dir: string }[]
  /** Replication settings from `bt up` flags (merged over `<home>/config.json` and BT_NETWORK). */
  replication?: ReplicationConfig
  /** Run no replication at all (tests of the local API alone). */
  noReplication?: boolean
  /** Stop, as on SIGTERM, once this process has exited (`BT_EXIT_WITH_PID`, see owner-watch.ts). */
  exitWithPid?: number
}

/** Run the daemon until it is asked to stop; resolves once it has stopped cleanly. */
export async function runDaemon(o: RunDaemonOptions): Promise<void> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`))
  const graceMs = o.graceMs ?? 10_000

  const running = await daemonInfo(o.home)
  if (running) throw alreadyRunning(o.home, running.pid)
  let node: LocalNode
  try {
    node = await openLocalNode({
      home: o.home,
      runtime: systemRuntime(),
      lockWaitMs: o.lockWaitMs ?? 2000,
      ...(o.unlock ? { unlock: o.unlock } : {}),
    })
  } catch (e) {
    if (e instanceof NodeError && e.code === 'ELOCKED') {
      const r = await daemonInfo(o.home)
      if (r) throw alreadyRunning(o.home, r.pid)
    }
    throw e
  }

  // The lock is ours: a socket or daemon.json still present was left by a daemon that died.
  let socket: string
  const stopTriggers: (() => void)[] = []
  let server: ApiServer | undefined
  try {
    socket = socketPathFor(o.home)
    if (dirname(socket) !== o.home) ensurePrivateDir(dirname(socket))
    removeDaemonFiles(o.home, socket)
  } catch (e) {
    await node.close()
    throw e
  }

  // Mounted before the socket serves: once `bt up --detach` returns, the mounts are there.
  try {
    await startMounts({ node, log, wanted: o.mounts ?? [] })
  } catch (e) {
    await node.close()
    throw e
  }

  let requestStop!: (why: string) => void
  const stopRequested = new Promise<string>((r) => {
    requestStop = r
  })
  server = new ApiServer({
    api: node,
    log,
    pid: process.pid,
    onShutdown: () => requestStop('shutdown requested'),
  })
  try {
    await server.listen(socket)
    chmodSync(socket, 0o600)
  } catch (e) {
    await node.close()
    throw new NodeError('EDAEMON', o.home, `cannot listen on ${socket}: ${(e as Error).message}`)
  }
  const info = { pid: process.pid, socket }
  try {
    writeDaemonFile(o.home, { ...info, started: Date.now(), version: BT_VERSION })
  } catch (e) {
    await server.close(0)
    removeDaemonFiles(o.home, socket)
    await node.close()
    throw new NodeError('EDAEMON', o.home, `cannot write daemon.json: ${(e as Error).message}`)
  }
  node.setDaemon(info)

  let replication: Replication | undefined
  if (!o.noReplication) {
    try {
      const config = mergeConfig(o.replication ?? {}, readConfigFile(o.home), process.env)
      replication = await startReplication({ node, config, runtime: systemRuntime(), log })
      node.sync.setReplicator(replication)
    } catch (e) {
      log(`replication cannot start: ${(e as Error).stack ?? String(e)}`)
      await server.close(0)
      removeDaemonFiles(o.home, socket)
      await replication?.close()
      await node.close()
      throw e
    }
  }

  let signalled = 0
  const onSignal = (sig: NodeJS.Signals) => {
    signalled++
    if (signalled === 1) requestStop(sig)
    else {
      log(`${sig} again: aborting requests in flight now`)
      server?.hurry()
    }
  }
  if (o.signals !== false) {
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    stopTriggers.push(() => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    })
  }
  if (o.exitWithPid !== undefined) {
    const owner = o.exitWithPid
    stopTriggers.push(watchOwner(owner, () => requestStop(`process ${owner} (BT_EXIT_WITH_PID) exited`)))
  }
  if (o.stop) {
    const sig = o.stop
    const onAbort = () => onSignal('SIGTERM')
    if (sig.aborted) onAbort()
    else sig.addEventListener('abort', onAbort)
    stopTriggers.push(() => sig.removeEventListener('abort', onAbort))
  }

  // Every start says how the key is kept: an unprotected key must never go unnoticed.
  log(`node key protection: ${node.keyProtection}`)
  if (node.warning) log(`warning: ${node.warning}`)
  log(`bt ${BT_VERSION}: node ${node.nodeId} serving ${o.home} on ${socket} (pid ${process.pid})`)
  o.onReady?.(info)

  const why = await stopRequested
  log(`stopping (${why}); requests in flight have ${graceMs} ms to finish`)
  if (signalled === 0) signalled = 1 // a signal after a shutdown request means "now"
  try {
    await server.close(graceMs)
    node.sync.setReplicator(undefined)
    await replication?.close().catch((e) => log(`error while stopping replication: ${(e as Error).message}`))
    node.setDaemon(undefined)
    // Before the lock is released: a new daemon may start the moment it is.
    removeDaemonFiles(o.home, socket)
  } finally {
    try {
      await node.close()
    } catch (e) {
      log(`error while closing the data dir: ${(e as Error).stack ?? String(e)}`)
    }
    for (const off of stopTriggers) off()
  }
  log('stopped')
}
