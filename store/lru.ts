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
