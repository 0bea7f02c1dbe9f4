import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  decodeNode,
  encodeNode,
  entryAt,
  HEADER_BYTES,
  MAX_FANOUT,
  TreeBuilder,
  type TreeShape,
} from '../../store/manifest.js'
import { StoreError } from '../../store/types.js'

const fakeId = (i: number): string => createHash('sha256').update(`chunk ${i}`).digest('hex')

/** Build a tree over n fake entries; returns the root and every node by id. */
function build(n: number, len: (i: number) => number, shape?: TreeShape) {
  const nodes = new Map<string, Uint8Array>()
  const b = new TreeBuilder((_level, plain) => {
    const id = createHash('sha256').update(plain).digest('hex')
    nodes.set(id, Uint8Array.from(plain))
    return id
  }, shape)
  for (let i = 0; i < n; i++) b.add(fakeId(i), len(i))
  return { root: b.finish(), nodes }
}

function flatten(id: string, nodes: Map<string, Uint8Array>): { ids: string[]; depth: number } {
  const node = decodeNode(nodes.get(id)!, id)
  if (node.level === 0) return { ids: node.ids, depth: 1 }
  const parts = node.ids.map((c) => flatten(c, nodes))
  return { ids: parts.flatMap((p) => p.ids), depth: 1 + Math.max(...parts.map((p) => p.depth)) }
}

test('encode/decode round trip with cumulative ends and entry lookup', () => {
  const ids = [fakeId(1), fakeId(2), fakeId(3)]
  const leaf = decodeNode(encodeNode(0, ids, [10, 20, 30]))
  assert.deepEqual(leaf.ids, ids)
  assert.deepEqual([...leaf.ends], [10, 30, 60])
  assert.equal(leaf.total, 60)
  assert.deepEqual(
    [0, 9, 10, 29, 30, 59].map((o) => entryAt(leaf, o)),
    [0, 0, 1, 1, 2, 2],
  )
  const big = 3 * 2 ** 40
  const index = decodeNode(encodeNode(2, ids, [big, 1, 2 ** 52]))
  assert.equal(index.level, 2)
  assert.equal(index.total, big + 1 + 2 ** 52)
  assert.equal(decodeNode(encodeNode(0, [], [])).total, 0)
})

test('a 160k-chunk file (10 GiB) builds a bounded tree that lists every chunk in order', () => {
  const n = 160_000
  const { root, nodes } = build(n, (i) => 16_384 + (i % 1000) * 200)
  let expected = 0
  for (let i = 0; i < n; i++) expected += 16_384 + (i % 1000) * 200
  assert.equal(root.size, expected)
  for (const plain of nodes.values())
    assert.ok(plain.length <= 256 * 1024 && plain.length <= HEADER_BYTES + MAX_FANOUT * 40)
  const { ids, depth } = flatten(root.id, nodes)
  assert.equal(ids.length, n)
  assert.ok(ids.every((id, i) => id === fakeId(i)))
  assert.ok(depth >= 2 && depth <= 4, `depth ${depth}`)
  // Deterministic: the same list gives the same root.
  assert.deepEqual(build(n, (i) => 16_384 + (i % 1000) * 200).root, root)
})

test('one changed entry changes only the nodes on its path', () => {
  const a = build(50_000, () => 65_536)
  const nodesB = new Map<string, Uint8Array>()
  const tb = new TreeBuilder((_l, plain) => {
    const id = createHash('sha256').update(plain).digest('hex')
    nodesB.set(id, Uint8Array.from(plain))
    return id
  })
  for (let i = 0; i < 50_000; i++) tb.add(i === 25_000 ? fakeId(-1) : fakeId(i), 65_536)
  tb.finish()
  const fresh = [...nodesB.keys()].filter((id) => !a.nodes.has(id))
  assert.ok(fresh.length <= 4, `${fresh.length} new nodes`)
})

test('tiny shapes give deep trees; a single leaf is its own root', () => {
  const deep = build(300, () => 1000, { fanoutBits: 2, maxFanout: 6 })
  assert.ok(flatten(deep.root.id, deep.nodes).depth >= 3)
  // A shape too narrow for the input would exceed the depth decoders accept: refused at build time.
  assert.throws(() => build(5000, () => 1000, { fanoutBits: 1, maxFanout: 2 }), RangeError)
  const one = build(3, () => 5)
  assert.equal(decodeNode(one.nodes.get(one.root.id)!).level, 0)
  const empty = build(0, () => 1)
  assert.equal(empty.root.size, 0)
  assert.throws(() => new TreeBuilder(() => '', { fanoutBits: 0, maxFanout: 4 }), RangeError)
  assert.throws(() => build(1, () => 0), RangeError)
})

test('decode rejects malformed nodes with EIO', () => {
  const good = encodeNode(0, [fakeId(1)], [100])
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    good.subarray(0, 8),
    good.subarray(0, good.length - 1),
    Buffer.concat([good, Buffer.of(0)]),
    Buffer.concat([Buffer.from('BTX'), good.subarray(3)]),
    encodeNode(0, [fakeId(1)], [0]),
    encodeNode(0, [fakeId(1)], [256 * 1024 + 1]),
    encodeNode(1, [], []),
    encodeNode(9, [fakeId(1)], [5]),
    encodeNode(1, [fakeId(1)], [2 ** 53]),
  ]
  const overCount = Buffer.from(good)
  overCount.writeUInt32LE(MAX_FANOUT + 1, 5)
  cases.push(overCount)
  for (const [i, c] of cases.entries()) {
    assert.throws(
      () => decodeNode(c, 'x'),
      (e: unknown) => e instanceof StoreError && e.code === 'EIO' && e.chunkId === 'x',
      `case ${i}`,
    )
  }
})

test('fuzz: decoding arbitrary or mutated bytes returns a node or throws EIO, nothing else', () => {
  const good = encodeNode(1, [fakeId(1), fakeId(2)], [5, 2 ** 40])
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .tuple(
            fc.nat({ max: good.length - 1 }),
            fc.integer({ min: 1, max: 255 }),
            fc.nat({ max: good.length }),
          )
          .map(([at, x, cut]) => {
            const b = Uint8Array.from(good)
            b[at]! ^= x
            return b.subarray(0, Math.max(cut, at + 1))
          }),
      ),
      (bytes) => {
        try {
          const node = decodeNode(bytes)
          assert.equal(node.ids.length, node.ends.length)
        } catch (e) {
          assert.ok(e instanceof StoreError && e.code === 'EIO', String(e))
        }
      },
    ),
    { numRuns: 2000, seed: 99 },
  )
})
