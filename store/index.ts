/** The BLAKE3 content store: public API. */
export { ChunkContentStore, type ContentStoreTuning, createContentStore, isChunkId } from './content-store.js'
export { CHUNK_OVERHEAD, ChunkCipher, chunkIdOf, hchacha20, xchachaOpen, xchachaSeal } from './crypto.js'
export { Chunker, type ChunkParams, chunkLengths, cutPoint, DEFAULT_CHUNK_PARAMS } from './fastcdc.js'
export { decodeNode, encodeNode, MAX_FANOUT, type ManifestNode } from './manifest.js'
export { MemoryChunkBackend } from './memory-backend.js'
export { normalizeDirty } from './rewrite.js'
export {
  createStoreTables,
  openStoreDatabase,
  SqliteChunkBackend,
  type SqliteChunkBackendOptions,
} from './sqlite-backend.js'
export * from './types.js'
