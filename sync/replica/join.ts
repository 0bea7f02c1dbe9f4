/**
 * Joining a tree with an invitation (PROTOCOL.md, Handshake and access).
 *
 * The joiner sends `join` with an HMAC proof of the invite's one-time
 * secret; the inviter redeems it through its InviteBook (which adds the
 * joiner to the membership) and answers `welcome` with what a member needs,
 * or `refuse EINVITE`. Either answer ends the join channel. The joiner then
 * sets the tree up and opens it like any other member (`open`), on the same
 * connection.
 */

import { LIMITS, type Message, ProtocolError, type ProtocolErrorCode } from '../wire/messages.js'
import { joinProof } from '../wire/ticket.js'
import { clipText, type PeerLink, type PendingJoin } from './peer-link.js'
import type { TreeEntry } from './tree-entry.js'
import type { InviteBook } from './types.js'

export interface JoinHooks {
  trees: Map<string, TreeEntry>
  invites: InviteBook | undefined
  count(node: string, code: ProtocolErrorCode, reason: string): void
}

/** Joiner: send the join request (after hello). */
export function joinRequest(link: PeerLink, j: PendingJoin, self: string): void {
  j.channel = link.newChannelId()
  link.joins.set(j.channel, j)
  let proof: Uint8Array
  try {
    proof = joinProof(j.secret, j.tree, j.invite, self, link.remote)
  } catch (e) {
    link.joins.delete(j.channel)
    j.reject(e as Error)
    return
  }
  link.send({ type: 'join', channel: j.channel, tree: j.tree, invite: j.invite, proof })
}

/** Joiner: the inviter's welcome. */
export function onWelcome(link: PeerLink, m: Extract<Message, { type: 'welcome' }>): void {
  const j = link.joins.get(m.channel)
  if (!j) throw new ProtocolError('EORDER', `welcome on channel ${m.channel}, which asked no join`)
  link.joins.delete(m.channel)
  link.forget(m.channel)
  j.resolve(m)
}

/** Inviter: check the proof, answer welcome or refuse. */
export function onJoin(link: PeerLink, m: Extract<Message, { type: 'join' }>, hooks: JoinHooks): void {
  const refuse = (code: ProtocolErrorCode, reason: string) => {
    hooks.count(link.remote, code, reason)
    link.send({ type: 'refuse', channel: m.channel, code, reason })
    link.forget(m.channel)
  }
  if (!hooks.invites) {
    refuse('EINVITE', 'this node issued no invitations')
    return
  }
  const e = hooks.trees.get(m.tree)
  if (!e) {
    refuse('ENOTREE', `tree ${m.tree} is not replicated here`)
    return
  }
  let role: ReturnType<InviteBook['redeem']>
  try {
    role = hooks.invites.redeem(m.tree, m.invite, m.proof, link.remote)
  } catch {
    role = undefined
  }
  if (!role) {
    refuse('EINVITE', 'invitation unknown, used, expired or not proven')
    return
  }
  link.send({
    type: 'welcome',
    channel: m.channel,
    name: clipText(e.r.name),
    role,
    key: e.r.key,
    // A longer log follows in `members` once the tree is open.
    members: e.r.membership.entries().slice(0, LIMITS.members),
  })
  link.forget(m.channel)
}
