/**
 * Every `bt` command: its name, arguments, flags, help text and examples,
 * and the function that runs it. The parser, `bt --help`, `bt CMD --help`
 * and the tests all read this one table.
 */
import type { CommandShape } from './args.js'
import { runCat, runLs, runMkdir, runMv, runRm, runStat } from './cmd-files.js'
import { INIT_FLAGS, KEY_COMMANDS, runInit } from './cmd-key.js'
import { MOUNT_COMMANDS, MOUNT_FLAG } from './cmd-mount.js'
import { runDown, runStatus, runUp } from './cmd-node.js'
import { SIM_COMMAND } from './cmd-sim.js'
import { runDf, runGc, runVerify } from './cmd-store.js'
import { SYNC_COMMANDS } from './cmd-sync-commands.js'
import { runConflicts, runLog, runResolve, runTreeCreate, runTreeList } from './cmd-trees.js'
import type { Ctx } from './context.js'
import { runGet } from './get.js'
import { runPut } from './put.js'
import { UP_REPLICATION_FLAGS } from './up-flags.js'

export type Group = 'node' | 'trees' | 'sharing' | 'files' | 'history' | 'store' | 'sim'

export const GROUPS: { id: Group; title: string }[] = [
  { id: 'node', title: 'Node' },
  { id: 'trees', title: 'Trees' },
  { id: 'sharing', title: 'Sharing and sync' },
  { id: 'files', title: 'Files (paths are TREE:/path)' },
  { id: 'history', title: 'History and conflicts' },
  { id: 'store', title: 'Store' },
  { id: 'sim', title: 'Simulation' },
]

export interface Command extends CommandShape {
  group: Group
  summary: string
  /** Usage line after `bt ` (`put [-r] LOCAL TREE:/path`). */
  usage: string
  /** Longer explanation (plain lines). */
  description: string
  /** Complete command lines, each runnable as written (tests parse them). */
  examples: string[]
  /** Runs the command; resolves to its exit status (failures throw and are reported by main). */
  run: (ctx: Ctx) => Promise<number>
}

export const COMMANDS: Command[] = [
  {
    name: 'init',
    group: 'node',
    summary: 'create the node identity in the data dir and print the node id',
    usage: 'init [--key-protection tpm|passphrase|none] [--tpm-pcrs LIST]',
    args: [],
    flags: INIT_FLAGS,
    description:
      'Creates the data dir (see --home) and its identity. The key is never stored in the clear unless\n' +
      'you ask for it with --key-protection none. The default is the TPM when one answers (--tpm DEVICE,\n' +
      'else $BT_TPM, else /dev/tpmrm0), else a passphrase: BT_PASSPHRASE, else asked twice on the\n' +
      'terminal (every command that opens the data dir needs it). --tpm-pcrs binds the seal to PCR values\n' +
      'and prints a recovery code once (on stderr; with --json also in the JSON): store it offline.',
    examples: [
      'bt init',
      'bt init --key-protection none',
      'bt --home /tmp/bt-demo init --key-protection none',
      'bt init --key-protection tpm --tpm-pcrs 7',
      'bt --tpm swtpm:127.0.0.1:2321 init --key-protection tpm',
    ],
    run: runInit,
  },
  {
    name: 'status',
    group: 'node',
    summary: 'node id, data dir, whether a node is running, trees',
    usage: 'status [--watch]',
    args: [],
    flags: [
      {
        name: 'watch',
        short: 'w',
        help: 'redraw every second (plain lines when not a terminal); Ctrl-C stops',
      },
    ],
    description:
      'Shows the node of the data dir, whether `bt up` serves it (pid, socket), and its trees; per tree\n' +
      'the sync state: peers with it open, synced/syncing/offline (stopped: no node running), chunks\n' +
      'wanted and received, bytes per second in and out.',
    examples: ['bt status', 'bt status --json', 'bt status --watch'],
    run: runStatus,
  },
  {
    name: 'up',
    group: 'node',
    summary: 'run the node (foreground; --detach: in the background)',
    usage: 'up [--detach] [--bootstrap HOST:PORT]... [--cache-size SIZE] [--transport LIST]',
    args: [],
    flags: [
      { name: 'detach', short: 'd', help: 'start in the background, return once it serves, print its pid' },
      {
        name: 'passphrase-stdin',
        help: 'read the key passphrase from stdin (--detach hands it to the node this way)',
      },
      MOUNT_FLAG,
      ...UP_REPLICATION_FLAGS,
    ],
    description:
      'Runs the node: while it runs, every other bt command goes through its local API (a Unix socket in\n' +
      'the data dir). In the foreground it logs to stderr and stops on Ctrl-C / SIGTERM after finishing\n' +
      'in-flight writes. With --detach it logs to <home>/node.log. One node per data dir.\n' +
      'It replicates every tree with the other members (iroh and Hyperswarm). BT_NETWORK=loopback keeps\n' +
      'it on 127.0.0.1 with no relays and no public DHT. Settings may also live in <home>/config.json.',
    examples: ['bt up --detach', 'bt up', 'bt up --detach --bootstrap 127.0.0.1:49737 --cache-size 2G'],
    run: runUp,
  },
  {
    name: 'down',
    group: 'node',
    summary: 'stop the running node cleanly',
    usage: 'down',
    args: [],
    flags: [],
    description:
      'Asks the node of the data dir to stop and waits until it has. Nothing to stop is not an error.',
    examples: ['bt down'],
    run: runDown,
  },
  ...MOUNT_COMMANDS,
  {
    name: 'tree create',
    group: 'trees',
    summary: 'create a tree and print its id',
    usage: 'tree create NAME',
    args: ['NAME'],
    flags: [],
    description: 'NAME: 1-64 letters, digits, ".", "_" or "-", not starting with "." or "-".',
    examples: ['bt tree create docs'],
    run: runTreeCreate,
  },
  {
    name: 'tree list',
    group: 'trees',
    summary: 'list the trees of this node',
    usage: 'tree list',
    args: [],
    flags: [],
    description: "One line per tree: name, id, this node's role, creation time.",
    examples: ['bt tree list', 'bt tree list --json'],
    run: runTreeList,
  },
  ...SYNC_COMMANDS,
  {
    name: 'put',
    group: 'files',
    summary: 'copy a local file (or with -r a directory) into a tree',
    usage: 'put [-r] LOCAL TREE:/path',
    args: ['LOCAL', 'TREE:/path'],
    flags: [{ name: 'recursive', short: 'r', help: 'copy a directory and everything below it' }],
    description:
      'Like scp: if TREE:/path is an existing directory, the source goes inside it under its own name.\n' +
      'LOCAL "-" reads stdin. -r keeps mode bits and mtimes, stores symlinks as symlinks, skips special\n' +
      'files with a warning; a file that vanishes or changes while being copied is reported and skipped,\n' +
      'and the exit status is then 1. A file appears in the tree only once it is completely stored.',
    examples: ['bt put notes.txt docs:/', 'bt put -r ./photos docs:/2024', 'bt put - docs:/from-stdin.txt'],
    run: runPut,
  },
  {
    name: 'get',
    group: 'files',
    summary: 'copy a file (or with -r a directory) out of a tree',
    usage: 'get [-r] TREE:/path LOCAL',
    args: ['TREE:/path', 'LOCAL'],
    flags: [{ name: 'recursive', short: 'r', help: 'copy a directory and everything below it' }],
    description:
      'Like scp: if LOCAL is an existing directory, the file lands inside it under its own name. LOCAL "-"\n' +
      'writes to stdout. Files are written to a temporary file and renamed when complete. With -r every\n' +
      'name from the tree is checked first: nothing is ever written outside LOCAL.',
    examples: ['bt get docs:/notes.txt .', 'bt get -r docs:/2024 ./restore', 'bt get docs:/notes.txt -'],
    run: runGet,
  },
  {
    name: 'cat',
    group: 'files',
    summary: 'print a file (or an old version of it) to stdout',
    usage: 'cat TREE:/path [--at VERSION]',
    args: ['TREE:/path'],
    flags: [
      { name: 'at', value: 'VERSION', help: 'a version id from bt log (a unique prefix of 8+ hex digits)' },
    ],
    description: "Streams the file's content; with --at, the content it had at that version.",
    examples: ['bt cat docs:/notes.txt', 'bt cat docs:/notes.txt --at 3f2a9c81'],
    run: runCat,
  },
  {
    name: 'ls',
    group: 'files',
    summary: 'list a directory',
    usage: 'ls [-l] TREE:/path',
    args: ['TREE:/path'],
    flags: [{ name: 'long', short: 'l', help: 'mode, size, mtime (ISO 8601) and symlink targets' }],
    description: 'Lists every entry, sorted by name, streaming page by page. TREE alone means its root.',
    examples: ['bt ls docs:/', 'bt ls -l docs:/2024', 'bt ls --json docs:'],
    run: runLs,
  },
  {
    name: 'stat',
    group: 'files',
    summary: 'show the attributes of a path',
    usage: 'stat TREE:/path',
    args: ['TREE:/path'],
    flags: [],
    description: 'Type, size, mode, times, inode (symlinks are not followed).',
    examples: ['bt stat docs:/notes.txt', 'bt stat --json docs:/'],
    run: runStat,
  },
  {
    name: 'mkdir',
    group: 'files',
    summary: 'create a directory',
    usage: 'mkdir [-p] TREE:/path',
    args: ['TREE:/path'],
    flags: [{ name: 'parents', short: 'p', help: 'create missing parents; an existing directory is fine' }],
    description: 'Creates one directory (or, with -p, every missing one on the way).',
    examples: ['bt mkdir docs:/2024', 'bt mkdir -p docs:/a/b/c'],
    run: runMkdir,
  },
  {
    name: 'mv',
    group: 'files',
    summary: 'move or rename within a tree',
    usage: 'mv TREE:/from TREE:/to',
    args: ['TREE:/from', 'TREE:/to'],
    flags: [],
    description:
      'Like mv(1): a target that is an existing directory receives the source under its name; an existing\n' +
      'file target is replaced. Both paths must be in the same tree.',
    examples: ['bt mv docs:/notes.txt docs:/old-notes.txt', 'bt mv docs:/old-notes.txt docs:/2024'],
    run: runMv,
  },
  {
    name: 'rm',
    group: 'files',
    summary: 'remove a file, symlink or (with -r) a directory',
    usage: 'rm [-r] TREE:/path',
    args: ['TREE:/path'],
    flags: [{ name: 'recursive', short: 'r', help: 'remove a directory and everything below it' }],
    description: 'Removed content stays readable in history (bt log, bt cat --at) until gc collects it.',
    examples: ['bt rm docs:/old-notes.txt', 'bt rm -r docs:/2024'],
    run: runRm,
  },
  {
    name: 'log',
    group: 'history',
    summary: 'history of a tree or of one path, newest first',
    usage: 'log TREE[:/path] [-n N]',
    args: ['TREE[:/path]'],
    flags: [{ name: 'max-count', short: 'n', value: 'N', help: 'show at most N entries' }],
    description:
      'One line per change: version id (usable with cat --at), time, author node, operation, path.',
    examples: ['bt log docs', 'bt log docs:/notes.txt -n 5', 'bt log --json docs'],
    run: runLog,
  },
  {
    name: 'conflicts',
    group: 'history',
    summary: 'list conflict copies left by concurrent edits',
    usage: 'conflicts TREE',
    args: ['TREE'],
    flags: [],
    description:
      'For each conflicted path: the other versions kept as conflict copies, with their version ids.',
    examples: ['bt conflicts docs', 'bt conflicts --json docs'],
    run: runConflicts,
  },
  {
    name: 'resolve',
    group: 'history',
    summary: 'settle a conflict by keeping one version',
    usage: 'resolve TREE:/path --keep VERSION',
    args: ['TREE:/path'],
    flags: [{ name: 'keep', value: 'VERSION', help: 'the version to keep (from bt conflicts)' }],
    description: 'The path keeps VERSION; the other versions stay in history.',
    examples: ['bt resolve docs:/notes.txt --keep 3f2a9c81'],
    run: runResolve,
  },
  {
    name: 'df',
    group: 'store',
    summary: 'store usage: chunks, stored and logical bytes, dedup ratio, per tree',
    usage: 'df',
    args: [],
    flags: [],
    description: 'Stored bytes are encrypted chunk bytes after dedup; logical bytes are the files as seen.',
    examples: ['bt df', 'bt df --json'],
    run: runDf,
  },
  {
    name: 'verify',
    group: 'store',
    summary: 're-hash every stored chunk; exit 1 and list anything corrupt or missing',
    usage: 'verify',
    args: [],
    flags: [],
    description: 'Lists corrupt and missing chunk ids and the paths of the files that use them.',
    examples: ['bt verify', 'bt verify --json'],
    run: runVerify,
  },
  {
    name: 'gc',
    group: 'store',
    summary: 'delete chunks nothing (file or history) references',
    usage: 'gc',
    args: [],
    flags: [],
    description: 'Frees the space of content that neither a file nor the retained history needs.',
    examples: ['bt gc', 'bt gc --json'],
    run: runGc,
  },
  ...KEY_COMMANDS,
  SIM_COMMAND,
]

/** Find a command from the leading words of the command line. */
export function lookupCommand(words: string[]): { shape: Command; used: number } | undefined {
  if (words[0] === 'tree' || words[0] === 'key') {
    const c = COMMANDS.find((x) => x.name === `${words[0]} ${words[1]}`)
    return c ? { shape: c, used: 2 } : undefined
  }
  const c = COMMANDS.find((x) => x.name === words[0])
  return c ? { shape: c, used: 1 } : undefined
}
