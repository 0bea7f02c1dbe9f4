/**
 * Errors about the node and its trees (not about a path inside a tree, which
 * are `FsError`). `subject` names what the error is about (a tree name, the
 * data dir, a ticket); the CLI prints `bt: <command> <subject>: <message>`.
 */
export type NodeErrorCode =
  /** No tree of that name on this node. */
  | 'ENOTREE'
  /** A tree of that name already exists. */
  | 'ETREEEXISTS'
  /** A name (tree, path component) is not acceptable. */
  | 'EBADNAME'
  /** The data dir has no identity yet (`bt init`). */
  | 'ENOTINIT'
  /** `bt init` on a data dir that already has an identity. */
  | 'EINITIALIZED'
  /** Another process holds the data dir's lock. */
  | 'ELOCKED'
  /** A data dir file is unreadable or inconsistent. */
  | 'ECORRUPT'
  /** The daemon could not be reached, or broke the local API protocol. */
  | 'EDAEMON'
  /** A key could not be unsealed or unwrapped. */
  | 'EKEY'
  /** A request the node does not support. */
  | 'ENOTSUP'
  /** The node is shutting down (or this handle was closed). */
  | 'ECLOSED'
  /** A directory cannot be mounted or unmounted (not empty, busy, no daemon to serve it). */
  | 'EMOUNT'
  /** This node's role in the tree does not allow the request (e.g. invite as a non-admin). */
  | 'EPERM'
  /** A node that is not a member of the tree (remove-member). */
  | 'ENOTMEMBER'
  /** An invite ticket that does not decode (mistyped, truncated, another program's). */
  | 'ETICKET'
  /** The inviter refused the invitation (used, expired, revoked or unknown). */
  | 'EINVITE'
  /** A peer could not be reached in time (join). */
  | 'EUNREACHABLE'
  /** The request needs the node running (`bt up`). */
  | 'ENOTRUNNING'

export class NodeError extends Error {
  override name = 'NodeError'
  constructor(
    readonly code: NodeErrorCode,
    /** What the error is about (tree name, data dir path, ...), when known. */
    readonly subject: string | undefined,
    message: string,
  ) {
    super(message)
  }
}

export function isNodeError(e: unknown): e is NodeError {
  return e instanceof NodeError
}
