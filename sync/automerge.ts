/**
 * Access to Automerge's low-level (wasm) document handle.
 *
 * The path tree never uses the high-level proxy API: on large documents every
 * `change` or `load` there materializes the whole document into JS objects.
 * The package exports the wasm handle type but not the factory (`ApiHandler`)
 * that creates handles and wasm sync states without materializing, so we load
 * it from the same module instance the package's Node entry point initialized
 * (same URL ⇒ same wasm instance; a second instance could not share handles).
 */

import type { API, DecodedSyncMessage } from '@automerge/automerge'
import * as A from '@automerge/automerge'

/** The low-level document handle. */
export type Doc = ReturnType<typeof A.getBackend>
/** The wasm sync state the low-level handle's sync methods take (one per peer and shard). */
export type SyncState = ReturnType<API['initSyncState']>
export type Patch = ReturnType<Doc['diff']>[number]

const entry = import.meta.resolve('@automerge/automerge')
const lowLevel = (await import(new URL('../low_level.js', entry).href)) as { ApiHandler: API }
const api: API = lowLevel.ApiHandler

/** A new empty document with the given actor (hex). */
export function createDoc(actor: string): Doc {
  return api.create({ actor })
}

/** Load a saved document (snapshot or concatenated incremental saves). */
export function loadDoc(bytes: Uint8Array, actor: string): Doc {
  return api.load(bytes, { actor })
}

/**
 * A fresh sync state. `readOnly`: changes from that peer are not applied, and
 * the peer learns it (Automerge tells it in the sync messages), so a
 * well-behaved peer stops offering changes instead of resending them.
 */
export function initSyncState(readOnly = false): SyncState {
  const s = api.initSyncState()
  if (readOnly) s.readOnly = true
  return s
}

/** Decode one change chunk (actor, seq, deps, ops). */
export function decodeChange(change: Uint8Array): ReturnType<API['decodeChange']> {
  return api.decodeChange(change)
}

export function encodeSyncState(s: SyncState): Uint8Array {
  return api.encodeSyncState(s)
}

export function decodeSyncState(b: Uint8Array): SyncState {
  return api.decodeSyncState(b)
}

export function decodeSyncMessage(msg: Uint8Array): DecodedSyncMessage {
  return A.decodeSyncMessage(msg)
}

export function encodeSyncMessage(msg: DecodedSyncMessage): Uint8Array {
  return A.encodeSyncMessage(msg)
}

/** The JS view of a wasm sync state (what was sent, what the peer has). */
export function exportSyncState(s: SyncState): {
  theirHeads: string[] | null | undefined
  sentHashes: Record<string, unknown>
} {
  return api.exportSyncState(s) as unknown as {
    theirHeads: string[] | null
    sentHashes: Record<string, unknown>
  }
}

/** Chunk type byte of an Automerge storage chunk: 0 document, 1 change, 2 compressed change. */
export function chunkType(chunk: Uint8Array): number {
  return chunk.length > 8 ? chunk[8]! : -1
}
