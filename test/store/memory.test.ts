import { createContentStore, MemoryChunkBackend } from '../../store/index.js'
import { runContentStoreAcceptance } from './acceptance.js'

runContentStoreAcceptance('memory', () => {
  const backend = new MemoryChunkBackend()
  return { backend, open: (options) => createContentStore(backend, options) }
})
