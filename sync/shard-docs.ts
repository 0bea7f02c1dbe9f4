/**
 * The shard documents of one tree: loaded lazily from `TreeStorage` on first
 * use (so opening a tree does not parse every document), created empty for
 * shards this replica has not seen yet, all written with this open's actor.
 */
import { createDoc, type Doc, loadDoc } from './automerge.js'
import type { TreeStorage } from './storage.js'

export class ShardDocs {
  private readonly docs = new Map<number, Doc>()

  constructor(
    private readonly storage: TreeStorage,
    readonly actor: string,
  ) {}

  get(shard: number): Doc {
    let doc = this.docs.get(shard)
    if (doc) return doc
    const saved = this.storage.loadShard(shard)
    if (saved?.snapshot && saved.increments.length === 0) {
      doc = loadDoc(saved.snapshot, this.actor)
    } else {
      doc = createDoc(this.actor)
      if (saved) {
        // Increments first (queued until their dependencies arrive), then the
        // snapshot: measured 3x faster than applying increments on top of a
        // loaded snapshot, and 20x faster than loading them concatenated
        // after it (Automerge 3.5, an 8k-entry shard with 20 increments).
        if (saved.increments.length > 0) doc.loadIncremental(Buffer.concat(saved.increments))
        if (saved.snapshot) doc.loadIncremental(saved.snapshot)
      }
    }
    // After a load, the first incremental save would repeat everything loaded.
    doc.saveIncremental()
    this.docs.set(shard, doc)
    return doc
  }

  /** Whether a shard's document is loaded or created in memory. */
  has(shard: number): boolean {
    return this.docs.has(shard)
  }

  /** Shards loaded or created in memory. */
  loaded(): number[] {
    return [...this.docs.keys()]
  }

  /** Persist what changed in a shard since its last save (joins the caller's transaction). */
  persist(shard: number): void {
    const doc = this.get(shard)
    this.storage.appendShard(shard, doc.saveIncremental(), () => doc.save())
  }

  close(): void {
    for (const d of this.docs.values()) d.free()
    this.docs.clear()
  }
}
