#!/usr/bin/env node
/**
 * The `bt` command. The full command set arrives with the node/daemon issue;
 * this entry point exists so `npx bt` works from a fresh clone.
 */
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

const HELP = `bt — Blocktree, a peer-to-peer filesystem node

Usage: bt <command> [options]

Options:
  --help       show this help
  --version    print the version
`

function main(argv: string[]): number {
  const [cmd] = argv
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`bt ${pkg.version}\n`)
    return 0
  }
  process.stderr.write(`bt: unknown command '${cmd}' (see bt --help)\n`)
  return 2
}

process.exitCode = main(process.argv.slice(2))
