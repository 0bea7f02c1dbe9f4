import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { test } from 'node:test'
import { DEFAULT_LINK, LinkNetwork } from '../../sim/links.js'
import { SimNet } from '../../sim/net.js'
import { SimNode } from '../../sim/node.js'
import { Rng } from '../../sim/rng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { MemberLog, MemoryMemberLogStore } from '../../sync/membership.js'
import { signerFromSeed } from '../../sync/wire/ed25519.js'

test('a crash keeps committed writes and the chunk store, loses staged writes; the restart is a new actor', async () => {
  const sched = new Scheduler()
  const net = new SimNet(sched, new LinkNetwork(sched, new Rng(1, 'net'), DEFAULT_LINK))
  const signer = signerFromSeed(new Uint8Array(32).fill(3))
  const tree = { id: 'ab'.repeat(16), name: 't', key: new Uint8Array(32).fill(9) }
  const store = new MemoryMemberLogStore()
  const setup = sched.runtime('setup', new Rng(1, 'setup'))
  MemberLog.create({ tree: tree.id, store, ...setup, signer })
  const node = new SimNode({
    index: 0,
    signer,
    seed: 1,
    sched,
    net,
    tree,
    memberStore: store,
    neighbors: () => [],
    antiEntropyMs: 10_000,
    fetchTimeoutMs: 1_000,
  })
  await node.start()
  const v = node.volume!
  await v.writeFile('/kept.txt', new TextEncoder().encode('committed'))
  await v.writeFile('/big.bin', new Uint8Array(300_000).fill(7))
  const fh = await v.open('/kept.txt', constants.O_RDWR)
  await v.write(fh, 0, new TextEncoder().encode('STAGED!!!'))
  const actor = node.tree!.actor
  node.crash()
  assert.equal(node.up, false)
  await sched.run({ until: sched.now() + 5_000 })
  await node.start()
  assert.equal(node.incarnation, 2)
  assert.notEqual(node.tree!.actor, actor)
  const read = async (p: string) => {
    const parts: Uint8Array[] = []
    for await (const b of node.volume!.readStream(p)) parts.push(b)
    return Buffer.concat(parts)
  }
  assert.equal((await read('/kept.txt')).toString(), 'committed')
  assert.equal((await read('/big.bin')).length, 300_000)
  assert.equal(node.membership!.roleOf(node.id), 'admin')
  await node.stop()
})
