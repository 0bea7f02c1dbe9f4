import { join } from 'node:path'
import { openDiskVolume } from '../../node/open-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { tmpDir } from '../helpers/tmp.js'
import { runVolumeAcceptance } from './volume-acceptance.js'

runVolumeAcceptance('disk', async (t) => {
  const dir = join(tmpDir(t), 'vol')
  const runtime = new ManualRuntime(43)
  const opts = { dir, nodeId: 'node-disk', key: new Uint8Array(32).fill(2), runtime, uid: 1000, gid: 100 }
  let volume = await openDiskVolume(opts)
  return {
    volume,
    runtime,
    reopen: async () => {
      await volume.close()
      volume = await openDiskVolume(opts)
      return volume
    },
  }
})
