/**
 * The daemon's side of mounting: load the FUSE adapter (only a daemon needs
 * it; a machine without libfuse still runs the node), hand the mounts to the
 * node, and mount what `bt up --mount` asked for.
 */
import type { MountInfo } from '../api-types.js'
import type { LocalNode } from '../local-node.js'
import type { MountService } from '../mounts.js'
import { NodeError } from '../node-error.js'

/** A node whose FUSE adapter cannot load: every mount request says why. */
function unavailable(reason: string): MountService {
  const fail = (dir: string) => new NodeError('EMOUNT', dir, `FUSE is not available in this node: ${reason}`)
  return {
    mount: async (_tree: string, dir: string): Promise<MountInfo> => {
      throw fail(dir)
    },
    unmount: async (dir: string) => {
      throw fail(dir)
    },
    list: () => [],
    closeAll: async () => {},
  }
}

/**
 * Give `node` its mount service and mount `wanted` in order. A mount that
 * fails is thrown after the ones already made are undone (the caller closes
 * the node): `bt up --mount` either serves every mount or does not start.
 */
export async function startMounts(o: {
  node: LocalNode
  log: (line: string) => void
  wanted: { tree: string; dir: string }[]
}): Promise<void> {
  let service: MountService
  try {
    const { MountManager } = await import('../mounts.js')
    service = new MountManager({
      volume: (t) => o.node.volume(t),
      log: o.log,
      now: Date.now,
      readOnly: (t) => o.node.isReader(t),
    })
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0] ?? String(e)
    o.log(`FUSE adapter unavailable (install libfuse2 and fuse): ${reason}`)
    service = unavailable(reason)
  }
  o.node.setMounts(service)
  for (const w of o.wanted) {
    try {
      await service.mount(w.tree, w.dir)
    } catch (e) {
      await service.closeAll()
      throw e
    }
  }
}
