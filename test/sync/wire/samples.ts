/** One or more valid instances of every protocol message, for round-trip tests and the fuzzer's seeds. */
import type { Message } from '../../../sync/wire/messages.js'

const TREE = '0f'.repeat(16)
const NODE = 'ab'.repeat(32)
const CHUNK = '0123456789abcdef'.repeat(4)

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

export function sampleMessages(): Message[] {
  return [
    { type: 'hello', version: 1, minVersion: 1, agent: 'bt/0.1.0 node20' },
    { type: 'hello', version: 3, minVersion: 2, agent: '' },
    { type: 'open', channel: 0, tree: TREE },
    { type: 'open', channel: 4_000_000_000, tree: TREE },
    { type: 'join', channel: 1, tree: TREE, invite: '01'.repeat(12), proof: filled(32, 1) },
    {
      type: 'welcome',
      channel: 1,
      name: 'photos é 📷',
      role: 'writer',
      key: filled(32, 2),
      members: [filled(180, 3), filled(1, 4)],
    },
    { type: 'accept', channel: 7, role: 'reader' },
    { type: 'accept', channel: 7, role: 'server' },
    { type: 'refuse', channel: 2, code: 'ENOTMEMBER', reason: 'not a member of this tree' },
    { type: 'members', channel: 2, entries: [filled(200, 5)] },
    { type: 'members', channel: 2, entries: [] },
    { type: 'shards', channel: 3, shards: [0, 1, 127, 128, 16_384, 999_999] },
    { type: 'sync', channel: 3, shard: 12, data: filled(1000, 6) },
    { type: 'want', channel: 3, ids: [CHUNK, 'f'.repeat(64)] },
    { type: 'have', channel: 3, ids: [CHUNK] },
    { type: 'nochunk', channel: 3, ids: [] },
    { type: 'chunk', channel: 3, id: CHUNK, data: filled(70_000, 7) },
    { type: 'chunk', channel: 3, id: CHUNK, data: new Uint8Array(0) },
    {
      type: 'peers',
      channel: 3,
      peers: [
        { node: NODE, addrs: ['iroh:127.0.0.1:40123', `hs:${'c'.repeat(64)}`] },
        { node: CHUNK, addrs: [] },
      ],
    },
    { type: 'ping', nonce: 0 },
    { type: 'pong', nonce: 123_456_789 },
    { type: 'error', code: 'EMALFORMED', reason: 'unknown message type 99' },
  ]
}
