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

// Tiny shards: the same suite over a tree spread across many Automerge documents.
runVolumeAcceptance('memory, 16 inodes per shard', async () => {
  const runtime = new ManualRuntime(44)
  const volume = await openMemoryVolume({
    nodeId: 'node-shards',
    key: new Uint8Array(32).fill(3),
    runtime,
    shardLimit: 16,
  })
  return { volume, runtime }
})
