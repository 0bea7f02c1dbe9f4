/**
 * One side of the mDNS test, run inside a network namespace the test made:
 * `node mdns-child.js NODE_ID HINT IFACE_IP EXPECT_ID`. Prints `FOUND <json>`
 * when it sees EXPECT_ID's announcement, keeps answering a little longer so
 * the other side sees it too, exits 0; exits 2 if nothing came in 20 s.
 */
import { startMdns } from '../../../sync/peers/mdns.js'
import { systemRuntime } from '../../../sync/runtime.js'

const [nodeId, hint, iface, expect] = process.argv.slice(2) as [string, string, string, string]
let found = false
const d = await startMdns({
  nodeId,
  addresses: () => [hint, 'iroh:0.0.0.0:4242'],
  onPeer: (p) => {
    if (p.node !== expect || found) return
    found = true
    process.stdout.write(`FOUND ${JSON.stringify(p)}\n`)
    setTimeout(() => void d.close().then(() => process.exit(0)), 3000)
  },
  timers: systemRuntime().timers,
  intervalMs: 500,
  interface: iface,
  log: (l) => process.stderr.write(`${l}\n`),
})
setTimeout(() => {
  if (!found) void d.close().then(() => process.exit(2))
}, 20_000)
