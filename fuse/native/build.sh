#!/bin/sh
# Rebuild fuse/native/build/Release/fuse.node: fuse-native 2.2.6's own C source
# (from node_modules) with two fixes, compiled against the system libfuse 2.
#   1. utimens passed the access time twice (argv[5..6] were built from
#      l->atime), so the modification time never reached JavaScript.
#   2. It did not set flag_utime_omit_ok, so libfuse dropped every request
#      that sets only one of the two times (`touch -m`, tar, cp -a through an
#      open file): now they reach utimens, UTIME_NOW arriving as
#      0xFFFFFFFE00000000 and UTIME_OMIT as 0xFFFFFFFF00000000 (both were
#      1073 ms before).
# fuse/native.ts loads this addon in place of the prebuilt one when it loads.
# `npm install` runs it (package.json "prepare"); the addon is not committed.
# Needs: cc, Node's headers (node_api.h: $NODE_INCLUDE, else beside this node,
# /usr/include/node, or node-gyp's header cache), libfuse.so.2 (Debian libfuse2).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nodeinc=
for d in ${NODE_INCLUDE:-} "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node" \
  /usr/include/node /usr/local/include/node "$HOME/.cache/node-gyp/$(node -p 'process.versions.node')/include/node"; do
  if [ -f "$d/node_api.h" ]; then nodeinc=$d; break; fi
done
[ -n "$nodeinc" ] || { echo "build.sh: Node's headers (node_api.h) not found; set NODE_INCLUDE" >&2; exit 1; }
src=$root/node_modules/fuse-native/fuse-native.c
grep -q '"version": "2.2.6"' "$root/node_modules/fuse-native/package.json" || {
  echo "build.sh: expects fuse-native 2.2.6 (the fixes are made to that source)" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src" "$root/node_modules/fuse-native/semaphore.h" "$tmp/"
sed -i \
  -e 's/FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)/FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)/' \
  -e 's|^  if (implemented\[op_utimens\]) ops.utimens = fuse_native_utimens;|&\n  if (implemented[op_utimens]) ops.flag_utime_omit_ok = 1;|' \
  -e 's|^  uint64_t ms = (ts->tv_sec \* 1000) + (ts->tv_nsec / 1000000);|  if (ts->tv_nsec == UTIME_NOW) return 0xFFFFFFFE00000000ULL;\n  if (ts->tv_nsec == UTIME_OMIT) return 0xFFFFFFFF00000000ULL;\n&|' \
  "$tmp/fuse-native.c"
grep -q 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)' "$tmp/fuse-native.c"
grep -q 'UTIME_OMIT) return' "$tmp/fuse-native.c"
grep -q 'ops.flag_utime_omit_ok = 1' "$tmp/fuse-native.c"
mkdir -p "$here/build/Release"
cc -shared -fPIC -O2 -D_FILE_OFFSET_BITS=64 -include sys/stat.h \
  -I"$nodeinc" -I"$root/node_modules/napi-macros" \
  -I"$root/node_modules/fuse-shared-library-linux/libfuse/include" \
  "$tmp/fuse-native.c" -o "$here/build/Release/fuse.node" -l:libfuse.so.2 -lpthread
strip "$here/build/Release/fuse.node"
echo "built $here/build/Release/fuse.node"
