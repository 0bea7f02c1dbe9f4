/** The package version, read once from package.json (two levels above the compiled file). */
import { readFileSync } from 'node:fs'

export const BT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version
