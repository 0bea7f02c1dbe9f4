/**
 * Command-line options of the benchmarks: `--quick` for a smoke run, numeric
 * options with a quick and a full default, `--help`. An unknown option or a
 * value that is not a positive number prints what was wrong and exits 2, so a
 * typo never starts a long full-size run.
 */
import { parseArgs } from 'node:util'

export interface NumericOption {
  /** Default for a full run and for `--quick`. */
  full: number[]
  quick: number[]
  help: string
  /** Accept a comma-separated list (e.g. `--sizes 10000,100000`). */
  list?: boolean
}

export function benchArgs<K extends string>(
  name: string,
  about: string,
  spec: Record<K, NumericOption>,
): { quick: boolean } & Record<K, number[]> {
  const keys = Object.keys(spec) as K[]
  const usage = [
    `Usage: node dist/bench/${name}.js [--quick] ${keys.map((k) => `[--${k} N${spec[k].list ? ',N...' : ''}]`).join(' ')}`,
    about,
    '  --quick      tiny sizes (smoke run)',
    ...keys.map(
      (k) =>
        `  --${k.padEnd(10)} ${spec[k].help} (default ${spec[k].full.join(',')}; quick ${spec[k].quick.join(',')})`,
    ),
  ].join('\n')
  const fail = (msg: string): never => {
    process.stderr.write(`${name}: ${msg}\n${usage}\n`)
    process.exit(2)
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      options: {
        quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(keys.map((k) => [k, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (e) {
    return fail((e as Error).message)
  }
  const v = parsed.values
  if (v.help) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }
  const quick = v.quick === true
  const values = {} as Record<K, number[]>
  for (const k of keys) {
    const raw = v[k]
    if (typeof raw !== 'string') {
      values[k] = quick ? spec[k].quick : spec[k].full
      continue
    }
    const nums = (spec[k].list ? raw.split(',') : [raw]).map(Number)
    if (nums.some((n) => !Number.isFinite(n) || n <= 0)) fail(`--${k} needs a positive number, got '${raw}'`)
    values[k] = nums
  }
  return { ...values, quick }
}
