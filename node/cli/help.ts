/** `bt --help` (every command, grouped) and `bt CMD --help` (usage, flags, examples). */
import { type FlagSpec, GLOBAL_FLAGS } from './args.js'
import { COMMANDS, type Command, GROUPS } from './commands.js'

function flagLabel(f: FlagSpec): string {
  const long = `--${f.name}${f.value ? ` ${f.value}` : ''}`
  return f.short ? `-${f.short}, ${long}` : `    ${long}`
}

function flagLines(flags: FlagSpec[]): string[] {
  const labels = flags.map(flagLabel)
  const w = Math.max(...labels.map((l) => l.length))
  return flags.map((f, i) => `  ${labels[i]!.padEnd(w)}  ${f.help}`)
}

export function mainHelp(): string {
  const out = [
    'bt — Blocktree, a peer-to-peer filesystem node',
    '',
    'Usage: bt <command> [options] [args]',
    '',
  ]
  const w = Math.max(...COMMANDS.map((c) => c.name.length))
  for (const g of GROUPS) {
    out.push(`${g.title}:`)
    for (const c of COMMANDS.filter((x) => x.group === g.id)) out.push(`  ${c.name.padEnd(w)}  ${c.summary}`)
    out.push('')
  }
  out.push('Global options (anywhere on the line):', ...flagLines(GLOBAL_FLAGS), '')
  out.push(
    'Remote paths are TREE:/path (TREE: is the root). Exit status: 0 ok, 1 failure, 2 usage error.',
    "bt CMD --help shows a command's options and examples.",
    '',
    'Examples:',
    '  bt init --key-protection none && bt tree create docs',
    '  bt put notes.txt docs:/ && bt ls -l docs:/',
    '',
  )
  return out.join('\n')
}

export function commandHelp(c: Command): string {
  const out = [`Usage: bt ${c.usage}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, '']
  if (c.description) out.push(c.description, '')
  if (c.flags.length) out.push('Options:', ...flagLines(c.flags), '')
  out.push('Global options: --home DIR, --tpm DEVICE, --json, --quiet, --help (see bt --help)', '')
  out.push('Examples:', ...c.examples.map((e) => `  ${e}`), '')
  return out.join('\n')
}

/** `bt tree --help`: the tree subcommands. */
export function groupHelp(prefix: string): string {
  const cs = COMMANDS.filter((c) => c.name.startsWith(`${prefix} `))
  const out = [`Usage: bt ${prefix} <${cs.map((c) => c.name.slice(prefix.length + 1)).join('|')}>`, '']
  for (const c of cs) out.push(`  bt ${c.usage.padEnd(20)}  ${c.summary}`)
  out.push('')
  return out.join('\n')
}

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name)
}
