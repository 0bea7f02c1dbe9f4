/** The command table entries of sharing and sync (commands.ts lists them with the others). */
import {
  runInvite,
  runJoin,
  runMembers,
  runPeers,
  runPin,
  runPins,
  runRemoveMember,
  runUnpin,
} from './cmd-sync.js'
import type { Command } from './commands.js'

export const SYNC_COMMANDS: Command[] = [
  {
    name: 'tree members',
    group: 'trees',
    summary: 'list the members of a tree and their roles',
    usage: 'tree members TREE',
    args: ['TREE'],
    flags: [],
    description:
      'One line per member: node id, role (admin, writer, reader, server), whether it is connected now.',
    examples: ['bt tree members docs', 'bt tree members --json docs'],
    run: runMembers,
  },
  {
    name: 'tree remove-member',
    group: 'trees',
    summary: 'revoke a member (admins only)',
    usage: 'tree remove-member TREE NODE',
    args: ['TREE', 'NODE'],
    flags: [],
    description:
      'NODE is a node id or a unique prefix of 8+ hex digits (see bt tree members). The removal is\n' +
      'signed and sent to the other members; its connections are dropped and it gets nothing new.',
    examples: ['bt tree remove-member docs 3f2a9c81'],
    run: runRemoveMember,
  },
  {
    name: 'invite',
    group: 'sharing',
    summary: 'print a one-time ticket that lets another node join a tree',
    usage: 'invite TREE [--role reader|writer|admin] [--expires DURATION] [--no-address]',
    args: ['TREE'],
    flags: [
      { name: 'role', value: 'ROLE', help: 'role of the new member: reader, writer (default) or admin' },
      { name: 'expires', value: 'DURATION', help: 'validity, e.g. 30m, 12h, 7d (default), 2w' },
      {
        name: 'no-address',
        help: 'leave this node’s addresses out: the joiner finds it on the Hyperswarm DHT (shorter ticket)',
      },
    ],
    description:
      'Prints the ticket alone on stdout. Admins only. The ticket names this node and how to reach it;\n' +
      'it is redeemed by this node while it runs (bt up), once. Readers receive the tree but cannot\n' +
      'change it; writers can; admins can also invite and remove members.',
    examples: ['bt invite docs', 'bt invite docs --role reader --expires 1d', 'bt invite docs --no-address'],
    run: runInvite,
  },
  {
    name: 'join',
    group: 'sharing',
    summary: 'join a tree with a ticket from bt invite, print its local name',
    usage: 'join TICKET [--name LOCAL]',
    args: ['TICKET'],
    flags: [
      { name: 'name', value: 'LOCAL', help: "local name of the tree (default: the inviter's name for it)" },
      {
        name: 'timeout',
        value: 'DURATION',
        help: 'give up reaching the inviter after this long (default 30s)',
      },
    ],
    description:
      'Reaches the inviter (addresses in the ticket, else the tree’s Hyperswarm topic), proves the\n' +
      'invitation, receives the tree key and members, adds the tree and starts syncing. Needs the node\n' +
      'running (bt up --detach).',
    examples: ['bt join bt1... --name shared-docs'],
    run: runJoin,
  },
  {
    name: 'peers',
    group: 'sharing',
    summary: 'connected peers: transports, trees, round trip, bytes in/out',
    usage: 'peers',
    args: [],
    flags: [],
    description: 'One line per connected node. --json gives {peers: [...]} with every connection.',
    examples: ['bt peers', 'bt peers --json'],
    run: runPeers,
  },
  {
    name: 'pin',
    group: 'sharing',
    summary: 'keep a file or directory local (fetched now, never evicted)',
    usage: 'pin TREE:/path',
    args: ['TREE:/path'],
    flags: [],
    description:
      'For trees this node reads on demand (role reader): the content below the path is fetched now and\n' +
      'kept, including files added there later. Writers, admins and servers keep everything anyway.',
    examples: ['bt pin docs:/handbook', 'bt pin docs:/notes.txt'],
    run: runPin,
  },
  {
    name: 'unpin',
    group: 'sharing',
    summary: 'undo bt pin (the content may be evicted from the cache)',
    usage: 'unpin TREE:/path',
    args: ['TREE:/path'],
    flags: [],
    description: 'The path must be one given to bt pin (see bt pins).',
    examples: ['bt unpin docs:/handbook'],
    run: runUnpin,
  },
  {
    name: 'pins',
    group: 'sharing',
    summary: 'list the pinned paths of a tree',
    usage: 'pins TREE',
    args: ['TREE'],
    flags: [],
    description: 'One TREE:/path per line.',
    examples: ['bt pins docs', 'bt pins --json docs'],
    run: runPins,
  },
]
