/**
 * The Hyperswarm DHT topic of a tree: BLAKE3('blocktree/topic/v1' || the
 * tree id's 16 bytes). Anyone who knows the tree id can find its members'
 * announcements (the id is in every ticket); the topic says nothing more,
 * and connections are still refused to non-members by the protocol.
 */
import { blake3 } from '@napi-rs/blake-hash'

const DOMAIN = new TextEncoder().encode('blocktree/topic/v1')

/** The 32-byte topic of tree `treeId` (32 hex characters). */
export function treeTopic(treeId: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/.test(treeId)) throw new Error(`not a tree id: ${JSON.stringify(treeId)}`)
  const input = new Uint8Array(DOMAIN.length + 16)
  input.set(DOMAIN, 0)
  input.set(Buffer.from(treeId, 'hex'), DOMAIN.length)
  return new Uint8Array(blake3(Buffer.from(input)))
}
