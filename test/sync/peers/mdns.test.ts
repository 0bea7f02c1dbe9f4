import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { announcement, MAX_HINTS, mdnsEnabled, peersFromResponse, SERVICE } from '../../../sync/peers/mdns.js'

const A = 'a1'.repeat(32)
const B = 'b2'.repeat(32)

describe('mDNS records', () => {
  test('an announcement parses back to the node and its hints; our own is ignored', () => {
    const pkt = announcement(A, ['iroh:192.168.1.5:4000', 'hs:' + A])
    assert.deepEqual(peersFromResponse(pkt, '192.168.1.5', B), [
      { node: A, addrs: ['iroh:192.168.1.5:4000', `hs:${A}`] },
    ])
    assert.deepEqual(peersFromResponse(pkt, '192.168.1.5', A), [])
  })

  test('an unspecified host in a hint takes the sender address', () => {
    const pkt = announcement(A, ['iroh:0.0.0.0:4000', 'iroh:[::]:4001'])
    assert.deepEqual(peersFromResponse(pkt, '10.0.0.7', B)[0]!.addrs, [
      'iroh:10.0.0.7:4000',
      'iroh:10.0.0.7:4001',
    ])
    assert.deepEqual(peersFromResponse(pkt, 'fe80::1', B)[0]!.addrs, [
      'iroh:[fe80::1]:4000',
      'iroh:[fe80::1]:4001',
    ])
  })

  test('malformed records are skipped, hints are bounded', () => {
    const txt = (name: string, strings: string[]) => ({
      answers: [],
      additionals: [{ name, type: 'TXT', data: strings.map((s) => Buffer.from(s)) }],
    })
    const inst = `${A.slice(0, 32)}.${SERVICE}`
    assert.deepEqual(peersFromResponse(txt(inst, ['v=1', 'id=xyz']), '1.2.3.4', B), [])
    assert.deepEqual(peersFromResponse(txt(inst, ['v=2', `id=${A}`]), '1.2.3.4', B), [])
    assert.deepEqual(peersFromResponse(txt(inst, ['v=1', `id=${A}`, `id=${B}`]), '1.2.3.4', B), [])
    // The instance name must match the id it carries.
    assert.deepEqual(
      peersFromResponse(txt(`${B.slice(0, 32)}.${SERVICE}`, ['v=1', `id=${A}`]), '1.2.3.4', B),
      [],
    )
    assert.deepEqual(peersFromResponse(txt('other._http._tcp.local', ['v=1', `id=${A}`]), '1.2.3.4', B), [])
    const many = Array.from({ length: 40 }, (_, i) => `a=iroh:10.0.0.${i}:1`)
    const bad = ['a=', 'a=has space', `a=${'x'.repeat(300)}`]
    const got = peersFromResponse(txt(inst, ['v=1', `id=${A}`, ...bad, ...many]), '1.2.3.4', B)
    assert.equal(got.length, 1)
    assert.equal(got[0]!.addrs.length, MAX_HINTS)
    assert.equal(got[0]!.addrs[0], 'iroh:10.0.0.0:1')
    assert.deepEqual(peersFromResponse({ answers: [{ name: inst, type: 'TXT', data: 7 }] }, '1.2.3.4', B), [])
    assert.throws(() => announcement('nope', []), /not a node id/)
  })

  test('off under loopback unless explicitly enabled', () => {
    assert.equal(mdnsEnabled('loopback'), false)
    assert.equal(mdnsEnabled('loopback', true), true)
    assert.equal(mdnsEnabled('lan'), true)
    assert.equal(mdnsEnabled('internet', false), false)
  })
})

/** Two network namespaces joined by a veth pair (10.231.x), or why they cannot be made here. */
function makeNamespaces(): { a: string; b: string; ipA: string; ipB: string } | string {
  const tag = String(process.pid % 1_000_000)
  const a = `btmdnsA${tag}`
  const b = `btmdnsB${tag}`
  const ipA = '10.231.0.1'
  const ipB = '10.231.0.2'
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  try {
    ip('netns', 'add', a)
  } catch (e) {
    return `ip netns not permitted here: ${e instanceof Error ? e.message.split('\n')[0] : e}`
  }
  after(() => {
    for (const ns of [a, b])
      try {
        ip('netns', 'del', ns)
      } catch {
        // already gone
      }
  })
  ip('netns', 'add', b)
  ip('link', 'add', `vA${tag}`, 'type', 'veth', 'peer', 'name', `vB${tag}`)
  for (const [ns, dev, addr] of [
    [a, `vA${tag}`, ipA],
    [b, `vB${tag}`, ipB],
  ] as const) {
    ip('link', 'set', dev, 'netns', ns)
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev)
    ip('-n', ns, 'link', 'set', dev, 'up')
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev)
  }
  return { a, b, ipA, ipB }
}

function runChild(ns: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const script = fileURLToPath(new URL('./mdns-child.js', import.meta.url))
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], {
      env: { ...process.env, BT_NETWORK: 'loopback' },
    })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    p.on('close', (code) => resolve({ code, out, err }))
  })
}

describe('mDNS between two network namespaces', () => {
  const made = process.platform === 'linux' ? makeNamespaces() : 'not Linux'
  const skip = typeof made === 'string' ? made : undefined

  test('each node finds the other with its hints', { skip, timeout: 60_000 }, async () => {
    const ns = made as Exclude<typeof made, string>
    const [ra, rb] = await Promise.all([
      runChild(ns.a, [A, `iroh:${ns.ipA}:4000`, ns.ipA, B]),
      runChild(ns.b, [B, `iroh:${ns.ipB}:4000`, ns.ipB, A]),
    ])
    assert.equal(ra.code, 0, `A: ${ra.err}`)
    assert.equal(rb.code, 0, `B: ${rb.err}`)
    const found = (out: string) => JSON.parse(out.split('FOUND ')[1]!.trim())
    assert.deepEqual(found(ra.out), { node: B, addrs: [`iroh:${ns.ipB}:4000`, `iroh:${ns.ipB}:4242`] })
    assert.deepEqual(found(rb.out), { node: A, addrs: [`iroh:${ns.ipA}:4000`, `iroh:${ns.ipA}:4242`] })
  })
})
