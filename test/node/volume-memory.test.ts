import { openMemoryVolume } from '../../node/open-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { runVolumeAcceptance } from './volume-acceptance.js'

runVolumeAcceptance('memory', async () => {
  const runtime = new ManualRuntime(42)
  const volume = await openMemoryVolume({
    nodeId: 'node-mem',
    key: new Uint8Array(32).fill(1),
    runtime,
    uid: 1000,
    gid: 100,
  })
  return { volume, runtime }
})
