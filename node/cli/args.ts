/**
 * The command-line parser: global options, a command (one or two words, e.g.
 * `tree create`), its flags and positional arguments. Options may appear
 * anywhere before `--`; `-` alone is a positional (stdin/stdout). Anything
 * wrong is a `UsageError` (exit status 2).
 */

/** A flag of a command or a global option. */
export interface FlagSpec {
  /** Long name without dashes (`recursive`). */
  name: string
  /** One-letter alias (`r`). */
  short?: string
  /** Placeholder of the value when the flag takes one (`VERSION`); absent for booleans. */
  value?: string
  /** The flag may be given several times; the values are kept in order (see `Ctx.values`). */
  repeat?: boolean
  help: string
}

/** The shape of a command, as the parser and the help texts need it. */
export interface CommandShape {
  /** `put`, `tree create`. */
  name: string
  flags: FlagSpec[]
  /** Names of the positional arguments, for messages (`LOCAL`, `TREE:/path`); `?` suffix = optional. */
  args: string[]
}

export interface Parsed {
  /** The command name (`help` when only global options were given). */
  command: string
  home?: string
  json: boolean
  quiet: boolean
  help: boolean
  version: boolean
  /** Flags of the command: booleans as true, valued flags as strings. */
  flags: Map<string, string | true>
  positionals: string[]
}

/** A command line that cannot be understood. `command` is the command it was for, if known. */
export class UsageError extends Error {
  override name = 'UsageError'
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message)
  }
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'home', value: 'DIR', help: 'data dir (default $BT_HOME, else $XDG_DATA_HOME/blocktree)' },
  { name: 'json', help: 'machine-readable output (stable; see README "JSON output")' },
  { name: 'quiet', short: 'q', help: 'no progress bars or notes on stderr' },
  { name: 'help', short: 'h', help: 'show help (for a command: bt CMD --help)' },
  { name: 'version', help: 'print the version' },
  {
    name: 'tpm',
    value: 'DEVICE',
    help: 'the TPM holding the node key (default $BT_TPM, else /dev/tpmrm0; swtpm:HOST:PORT, unix:PATH)',
  },
]

/** Two-word command groups (`bt tree create`, `bt key rotate`) and their subcommands, for messages. */
const GROUPS = new Map([
  ['tree', 'create, list, members or remove-member'],
  ['key', 'rotate, export, import, recover, passwd or status'],
])

/** Words that start a two-word command (`bt tree create`). */
export type Lookup = (words: string[]) => { shape: CommandShape; used: number } | undefined

/** Parse `argv` (without node and script). `lookup` finds the command from its leading words. */
export function parseArgs(argv: string[], lookup: Lookup): Parsed {
  const p: Parsed = {
    command: 'help',
    json: false,
    quiet: false,
    help: false,
    version: false,
    flags: new Map(),
    positionals: [],
  }
  // The command is the first word that is not an option (skipping global options and their values).
  let i = 0
  const words: string[] = []
  let shape: CommandShape | undefined
  let cmdStart = -1
  while (i < argv.length) {
    const a = argv[i]!
    if (a === '--' || a === '-' || !a.startsWith('-')) {
      if (a === '--') break
      cmdStart = i
      break
    }
    i = takeOption(argv, i, GLOBAL_FLAGS, p, undefined)
  }
  const rest: string[] = []
  if (cmdStart >= 0) {
    for (let j = cmdStart; j < argv.length && words.length < 2; j++) {
      if (argv[j]!.startsWith('-')) break
      words.push(argv[j]!)
    }
    const found = lookup(words)
    if (!found) {
      const group = GROUPS.get(words[0]!)
      if (group && words.length === 1) {
        if (argv.includes('--help') || argv.includes('-h')) {
          p.command = words[0]!
          p.help = true
          return p
        }
        throw new UsageError(`missing subcommand (${group})`, words[0])
      }
      const shown = group ? `${words[0]} ${words[1]}` : words[0]!
      throw new UsageError(`unknown command '${shown}'`)
    }
    shape = found.shape
    p.command = shape.name
    i = cmdStart + found.used
  } else if (i < argv.length && argv[i] === '--') {
    i++
    if (i < argv.length) throw new UsageError(`unknown command '${argv[i]}'`)
  }
  let dashdash = false
  while (i < argv.length) {
    const a = argv[i]!
    if (!dashdash && a === '--') {
      dashdash = true
      i++
    } else if (!dashdash && a.length > 1 && a.startsWith('-')) {
      i = takeOption(argv, i, [...GLOBAL_FLAGS, ...(shape?.flags ?? [])], p, shape?.name)
    } else {
      rest.push(a)
      i++
    }
  }
  p.positionals = rest
  if (shape && !p.help && !p.version) checkArity(shape, rest)
  return p
}

/** Consume the option at argv[i] (and its value); returns the next index. */
function takeOption(
  argv: string[],
  i: number,
  specs: FlagSpec[],
  p: Parsed,
  cmd: string | undefined,
): number {
  const a = argv[i]!
  const set = (spec: FlagSpec, value: string | true) => {
    switch (spec.name) {
      case 'home':
        p.home = value as string
        return
      case 'json':
        p.json = true
        return
      case 'quiet':
        p.quiet = true
        return
      case 'help':
        p.help = true
        return
      case 'version':
        p.version = true
        return
    }
    const prev = p.flags.get(spec.name)
    if (prev !== undefined && spec.value) {
      if (!spec.repeat) throw new UsageError(`--${spec.name} given twice`, cmd)
      // Repeated values are kept NUL-separated (no command-line argument contains a NUL).
      p.flags.set(spec.name, `${prev}\0${value}`)
      return
    }
    p.flags.set(spec.name, value)
  }
  if (a.startsWith('--')) {
    const eq = a.indexOf('=')
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2)
    const spec = specs.find((s) => s.name === name)
    if (!spec) throw new UsageError(`unknown option --${name}`, cmd)
    if (!spec.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`, cmd)
      set(spec, true)
      return i + 1
    }
    if (eq >= 0) {
      set(spec, a.slice(eq + 1))
      return i + 1
    }
    const v = argv[i + 1]
    if (v === undefined) throw new UsageError(`--${name} needs a value (${spec.value})`, cmd)
    set(spec, v)
    return i + 2
  }
  // A cluster of short flags: -rl, -n5, -n 5.
  for (let k = 1; k < a.length; k++) {
    const c = a[k]!
    const spec = specs.find((s) => s.short === c)
    if (!spec) throw new UsageError(`unknown option -${c}`, cmd)
    if (!spec.value) {
      set(spec, true)
      continue
    }
    if (k + 1 < a.length) {
      set(spec, a.slice(k + 1))
      return i + 1
    }
    const v = argv[i + 1]
    if (v === undefined) throw new UsageError(`-${c} needs a value (${spec.value})`, cmd)
    set(spec, v)
    return i + 2
  }
  return i + 1
}

function checkArity(shape: CommandShape, args: string[]): void {
  const required = shape.args.filter((a) => !a.endsWith('?'))
  if (args.length < required.length)
    throw new UsageError(`missing argument ${required[args.length]}`, shape.name)
  if (args.length > shape.args.length)
    throw new UsageError(`unexpected argument '${args[shape.args.length]}'`, shape.name)
}
