/**
 * Loads fuse-native, preferring our rebuild of its addon
 * (fuse/native/build/Release/fuse.node, made by fuse/native/build.sh from
 * fuse-native 2.2.6's own source with its utimens fixed: the stock addon
 * hands JavaScript the access time twice and cannot tell UTIME_NOW from
 * UTIME_OMIT). node-gyp-build, which fuse-native loads its addon with,
 * takes a directory from FUSE_NATIVE_PREBUILD; we set it only while loading.
 * If the rebuild cannot load here, the stock addon is used and `exactTimes`
 * says the mount cannot set times exactly.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type FuseClass from 'fuse-native'

const require = createRequire(import.meta.url)
const OWN_ADDON_DIR = fileURLToPath(new URL('../../fuse/native', import.meta.url))

type GypBuild = ((dir: string) => unknown) & { path(dir: string): string }

function load(): { Fuse: typeof FuseClass; binding: NativeBinding; exactTimes: boolean; why?: string } {
  const pkgDir = dirname(require.resolve('fuse-native/package.json'))
  const gyp = require('node-gyp-build') as GypBuild
  let why: string | undefined
  const saved = process.env.FUSE_NATIVE_PREBUILD
  try {
    process.env.FUSE_NATIVE_PREBUILD = OWN_ADDON_DIR
    // Load it first on its own: a failure here leaves fuse-native untouched.
    const binding = gyp(pkgDir) as NativeBinding
    const Fuse = require('fuse-native') as typeof FuseClass
    return { Fuse, binding, exactTimes: true }
  } catch (e) {
    why = (e as Error).message.split('\n')[0]
  } finally {
    if (saved === undefined) delete process.env.FUSE_NATIVE_PREBUILD
    else process.env.FUSE_NATIVE_PREBUILD = saved
  }
  return {
    Fuse: require('fuse-native') as typeof FuseClass,
    binding: gyp(pkgDir) as NativeBinding,
    exactTimes: false,
    ...(why ? { why } : {}),
  }
}

/** The part of fuse-native's addon we call directly. */
export interface NativeBinding {
  fuse_native_unmount(mnt: string, thread: Buffer): void
}

const loaded = load()

/** The fuse-native class, over our rebuilt addon when it loads. */
export const Fuse = loaded.Fuse
/** The addon fuse-native uses. */
export const binding = loaded.binding
/**
 * Whether utimens receives both times exactly (our addon). With the stock
 * addon only the access time arrives, and UTIME_NOW and UTIME_OMIT look alike.
 */
export const exactTimes = loaded.exactTimes
/** Why our addon could not be used (when `exactTimes` is false). */
export const addonProblem = loaded.why

/** utimens values our addon sends for UTIME_NOW and UTIME_OMIT (see build.sh). */
export const TIME_NOW = 0xfffffffe * 2 ** 32
export const TIME_OMIT = 0xffffffff * 2 ** 32
