/**
 * A small LRU of decoded manifest nodes, so ranged reads of one file do not
 * decrypt and decode the same index and leaf nodes over and over.
 */
import type { ManifestNode } from './manifest.js'
import type { ChunkId } from './types.js'

export class NodeCache {
  // A Map iterates in insertion order: re-inserting on access keeps the eldest first.
  private readonly map = new Map<ChunkId, ManifestNode>()

  constructor(private readonly capacity: number) {}

  get(id: ChunkId): ManifestNode | undefined {
    const node = this.map.get(id)
    if (node) {
      this.map.delete(id)
      this.map.set(id, node)
    }
    return node
  }

  set(id: ChunkId, node: ManifestNode): void {
    this.map.delete(id)
    this.map.set(id, node)
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!)
  }

  delete(id: ChunkId): void {
    this.map.delete(id)
  }

  clear(): void {
    this.map.clear()
  }
}

/**
 * Decrypted data chunks by id, bounded in bytes; off (capacity 0) unless a
 * caller turns it on (the daemon does for mounted trees). Chunks are
 * content-addressed, so an entry is never stale. `get` hands out the cached
 * bytes themselves: the store copies them before anything leaves it.
 */
export class ChunkCache {
  private readonly map = new Map<ChunkId, Uint8Array>()
  private bytes = 0

  constructor(private capacity = 0) {}

  get enabled(): boolean {
    return this.capacity > 0
  }

  /** Change the byte budget (0 turns the cache off and empties it). */
  setCapacity(bytes: number): void {
    this.capacity = Math.max(0, bytes)
    this.trim()
  }

  /** The cached chunk (shared: never modify it), or undefined. */
  get(id: ChunkId): Uint8Array | undefined {
    const data = this.map.get(id)
    if (!data) return undefined
    this.map.delete(id)
    this.map.set(id, data)
    return data
  }

  set(id: ChunkId, data: Uint8Array): void {
    // One chunk never takes more than an eighth: a big file streamed once cannot flush the rest.
    if (data.length > this.capacity / 8) return
    this.delete(id)
    this.map.set(id, data)
    this.bytes += data.length
    this.trim()
  }

  delete(id: ChunkId): void {
    const data = this.map.get(id)
    if (!data) return
    this.map.delete(id)
    this.bytes -= data.length
  }

  clear(): void {
    this.map.clear()
    this.bytes = 0
  }

  private trim(): void {
    for (const [id, data] of this.map) {
      if (this.bytes <= this.capacity) break
      this.map.delete(id)
      this.bytes -= data.length
    }
  }
}
