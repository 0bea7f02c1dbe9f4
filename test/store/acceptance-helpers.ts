/** Constants and helpers shared by the ContentStore acceptance suite. */
import assert from 'node:assert/strict'
import {
  type ChunkBackend,
  ChunkCipher,
  type ChunkContentStore,
  type ContentStoreOptions,
  type ContentStoreTuning,
  type FileRef,
  StoreError,
} from '../../store/index.js'
import type { Teardown } from '../helpers/tmp.js'

export interface StoreHarness {
  /** The backend under test (tests corrupt and delete chunks through it). */
  backend: ChunkBackend
  /** A content store over `backend`. */
  open(options: ContentStoreOptions & ContentStoreTuning): ChunkContentStore
}

export type MakeHarness = (t: Teardown) => StoreHarness

export const KiB = 1024
export const MiB = 1024 * KiB
export const KEY = new Uint8Array(32).fill(7)
export const OTHER_KEY = new Uint8Array(32).fill(9)
/** A tiny manifest fanout so small files get trees several levels deep. */
export const DEEP = { treeShape: { fanoutBits: 2, maxFanout: 6 } }

export async function rejectsWith(p: Promise<unknown>, code: string, chunkId?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${err}`)
    assert.equal(err.code, code)
    if (chunkId !== undefined) assert.equal(err.chunkId, chunkId)
    return true
  })
}

export function flipByte(data: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(data)
  copy[at % copy.length]! ^= 0x5a
  return copy
}

/** A data chunk id of ref (not a manifest node). */
export async function someDataChunk(store: ChunkContentStore, ref: FileRef, pick = 0): Promise<string> {
  const all = await store.chunkIds(ref)
  const nodes = new Set<string>()
  // Manifest nodes decrypt to "BTM…"; data chunks of random content do not.
  const cipher = new ChunkCipher(KEY)
  for (const id of all) {
    const plain = cipher.open(store.getStored(id)!)
    if (plain && Buffer.from(plain.subarray(0, 3)).toString('latin1') === 'BTM') nodes.add(id)
  }
  const data = all.filter((id) => !nodes.has(id))
  return data[pick % data.length]!
}
