/** Store maintenance: df, verify, gc. */
import type { Ctx } from './context.js'
import { humanSize, ratioText, table } from './format.js'

export async function runDf(ctx: Ctx): Promise<number> {
  const df = await (await ctx.api()).df()
  if (ctx.json) {
    await ctx.outJson(df)
    return 0
  }
  const rows = [
    ['TREE', 'FILES', 'CHUNKS', 'STORED', 'LOGICAL', 'DEDUP'],
    ...df.trees.map((t) => [
      t.name,
      String(t.files),
      String(t.chunks),
      humanSize(t.storedBytes),
      humanSize(t.logicalBytes),
      ratioText(t.dedupRatio),
    ]),
    [
      'total',
      String(df.trees.reduce((n, t) => n + t.files, 0)),
      String(df.chunks),
      humanSize(df.storedBytes),
      humanSize(df.logicalBytes),
      ratioText(df.dedupRatio),
    ],
  ]
  for (const l of table(rows, [1, 2, 3, 4, 5])) await ctx.out(l)
  return 0
}

export async function runVerify(ctx: Ctx): Promise<number> {
  const v = await (await ctx.api()).verify()
  if (ctx.json) {
    await ctx.outJson(v)
    return v.ok ? 0 : 1
  }
  for (const t of v.trees) {
    const bad = t.corrupt.length + t.missing.length
    await ctx.out(
      `${t.name}: ${t.checked} chunks checked, ${bad === 0 ? 'ok' : `${t.corrupt.length} corrupt, ${t.missing.length} missing`}`,
    )
    for (const id of t.corrupt) await ctx.out(`  corrupt chunk ${id}`)
    for (const id of t.missing) await ctx.out(`  missing chunk ${id}`)
    for (const p of t.damagedPaths) await ctx.out(`  damaged ${t.name}:${p}`)
  }
  if (!v.ok) ctx.warn(undefined, 'the store has corrupt or missing chunks (listed above)')
  return v.ok ? 0 : 1
}

export async function runGc(ctx: Ctx): Promise<number> {
  const g = await (await ctx.api()).gc()
  if (ctx.json) {
    await ctx.outJson(g)
    return 0
  }
  for (const t of g.trees)
    await ctx.out(`${t.name}: deleted ${t.deletedChunks} chunks, freed ${humanSize(t.freedBytes)}`)
  return 0
}
