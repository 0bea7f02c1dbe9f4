/**
 * Reading chunks and manifest trees: every stored chunk is hash-checked
 * against its id before use and authenticated by its AEAD tag, missing or
 * corrupt chunks are fetched through `fetchMissing` when given, and decoded
 * manifest nodes are validated against what their parent says (level,
 * subtree length) and cached.
 */
import { type ChunkCipher, chunkIdOf } from './crypto.js'
import type { ChunkCache, NodeCache } from './lru.js'
import { decodeNode, entryAt, type ManifestNode } from './manifest.js'
import { type ChunkBackend, type ChunkId, type FileRef, StoreError } from './types.js'

function eio(message: string, id?: ChunkId): StoreError {
  return new StoreError('EIO', message, id)
}

/** Plaintext length of entry i of a node (or subtree length, for an index node). */
export function entryLength(node: ManifestNode, i: number): number {
  return node.ends[i]! - (i ? node.ends[i - 1]! : 0)
}

export interface ReaderContext {
  backend: ChunkBackend
  cipher: ChunkCipher
  cache: NodeCache
  /** Decrypted data chunks (off unless enabled). */
  chunks: ChunkCache
  fetchMissing: ((id: ChunkId) => Promise<Uint8Array | undefined>) | undefined
  /** Throws when the store was closed (checked again after every await on a peer). */
  check(): void
}

export class TreeReader {
  constructor(private readonly c: ReaderContext) {}

  /** Plaintext of a chunk: hash-checked, fetched from peers when missing or corrupt, authenticated. */
  async plain(id: ChunkId): Promise<Uint8Array> {
    const { backend, cipher, fetchMissing } = this.c
    let stored = backend.get(id)
    let corrupt = false
    if (stored && chunkIdOf(stored) !== id) {
      stored = undefined
      corrupt = true
    }
    if (!stored) {
      const what = corrupt ? 'corrupt' : 'missing'
      if (!fetchMissing) throw eio(`chunk ${id} is ${what}`, id)
      let got: Uint8Array | undefined
      try {
        got = await fetchMissing(id)
      } catch (err) {
        throw eio(`chunk ${id} is ${what} and fetching it failed: ${(err as Error).message}`, id)
      }
      this.c.check()
      if (!got || !(got instanceof Uint8Array) || chunkIdOf(got) !== id) {
        throw eio(`chunk ${id} is ${what} and no valid copy was fetched`, id)
      }
      backend.replace(id, got)
      stored = got
    }
    const plain = cipher.open(stored)
    if (!plain) throw eio(`chunk ${id} does not decrypt under this tree key`, id)
    return plain
  }

  /** A manifest node, fetched if need be; `level` undefined for a root. */
  async node(id: ChunkId, level: number | undefined, total: number): Promise<ManifestNode> {
    const cached = this.c.cache.get(id)
    if (cached) return checkNode(cached, id, level, total)
    const node = decodeNode(await this.plain(id), id)
    this.c.cache.set(id, node)
    return checkNode(node, id, level, total)
  }

  /**
   * A node from local storage only: undefined when absent or corrupt (worth
   * fetching); StoreError('EIO') when intact but not a valid manifest here.
   */
  storedNode(id: ChunkId, level: number | undefined, total: number): ManifestNode | undefined {
    const { backend, cipher, cache } = this.c
    let node = cache.get(id)
    if (!node) {
      const stored = backend.get(id)
      if (!stored || chunkIdOf(stored) !== id) return undefined
      const plain = cipher.open(stored)
      if (!plain) throw eio(`chunk ${id} does not decrypt under this tree key`, id)
      node = decodeNode(plain, id)
      cache.set(id, node)
    }
    return checkNode(node, id, level, total)
  }

  /** A node from local storage only; undefined when absent, corrupt or malformed. */
  localNode(id: ChunkId, level: number | undefined, total: number): ManifestNode | undefined {
    try {
      return this.storedNode(id, level, total)
    } catch (err) {
      if (err instanceof StoreError) return undefined
      throw err
    }
  }

  /**
   * Plaintext of [start, end) of a file, chunk by chunk, touching only the
   * chunks needed. With `shared`, pieces may be views of the chunk cache: the
   * caller copies them out at once and never modifies them (saves a copy per
   * piece for `read`, which copies into its result anyway).
   */
  range(
    ref: FileRef,
    start: number,
    end: number,
    shared = false,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    return this.walk(ref.id, undefined, ref.size, start, end, shared)
  }

  /** Visit every manifest node of a file, depth first. */
  async forEachNode(ref: FileRef, fn: (node: ManifestNode) => void): Promise<void> {
    const visit = async (id: ChunkId, level: number | undefined, total: number): Promise<void> => {
      const node = await this.node(id, level, total)
      fn(node)
      if (node.level === 0) return
      for (let i = 0; i < node.ids.length; i++)
        await visit(node.ids[i]!, node.level - 1, entryLength(node, i))
    }
    await visit(ref.id, undefined, ref.size)
  }

  private async *walk(
    id: ChunkId,
    level: number | undefined,
    total: number,
    start: number,
    end: number,
    shared: boolean,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const node = await this.node(id, level, total)
    for (let i = start > 0 ? entryAt(node, start) : 0; i < node.ids.length; i++) {
      const s = i ? node.ends[i - 1]! : 0
      const e = node.ends[i]!
      if (s >= end) break
      const a = Math.max(start, s) - s
      const b = Math.min(end, e) - s
      if (node.level > 0) {
        yield* this.walk(node.ids[i]!, node.level - 1, e - s, a, b, shared)
      } else {
        const id = node.ids[i]!
        const cached = this.c.chunks.enabled ? this.c.chunks.get(id) : undefined
        if (cached) {
          yield shared ? cached.subarray(a, b) : cached.slice(a, b)
          continue
        }
        const plain = await this.plain(id)
        if (plain.length !== e - s) {
          throw eio(`chunk ${id} holds ${plain.length} bytes, manifest says ${e - s}`, id)
        }
        if (this.c.chunks.enabled) {
          this.c.chunks.set(id, plain)
          yield shared ? plain.subarray(a, b) : plain.slice(a, b)
        } else {
          yield a === 0 && b === plain.length ? plain : plain.subarray(a, b)
        }
      }
    }
  }
}

function checkNode(node: ManifestNode, id: ChunkId, level: number | undefined, total: number): ManifestNode {
  if (level !== undefined && node.level !== level) {
    throw eio(`malformed manifest: node at level ${node.level}, expected ${level}`, id)
  }
  if (node.total !== total)
    throw eio(`malformed manifest: node holds ${node.total} bytes, expected ${total}`, id)
  return node
}
