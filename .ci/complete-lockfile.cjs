#!/usr/bin/env node
// Adds lockfile entries for platform-specific optional packages this registry lacks,
// so `npm ci` on linux-x64 sees a complete lock and skips them by os/cpu.
const fs = require('node:fs')
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'))
const pk = lock.packages
let added = 0
for (const [_path, meta] of Object.entries(pk)) {
  for (const [dep, ver] of Object.entries(meta.optionalDependencies || {})) {
    const key = 'node_modules/' + dep
    if (pk[key]) continue
    const m = dep.match(
      /-(android|darwin|freebsd|linux|win32)-(arm64|x64|arm|ia32|ppc64|s390x|riscv64)(?:-(gnu|musl|gnueabihf|musleabihf|eabi|msvc))?$/,
    )
    if (!m) {
      console.error('cannot place', dep)
      process.exitCode = 1
      continue
    }
    const e = { version: ver, cpu: [m[2]], optional: true, os: [m[1]] }
    if (m[3]?.startsWith('gnu')) e.libc = ['glibc']
    else if (m[3]?.startsWith('musl')) e.libc = ['musl']
    pk[key] = e
    added++
  }
}
const sorted = Object.fromEntries(
  Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
)
lock.packages = sorted
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n')
console.log('added', added)
