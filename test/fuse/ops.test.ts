/**
 * The operation-level suite: every call the FUSE adapter maps, with its error
 * paths, against a real kernel mount of a Volume. The mount is touched only
 * from child processes (Python), never synchronously from this process.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fuseSkipReason, sh, shOk, withMount } from '../helpers/fuse.js'
import { checkpoint, pyIn } from './py.js'

const skip = fuseSkipReason()

describe('fuse: files', { skip, timeout: 600_000 }, () => {
  test('create, write, close, reopen sees the data; O_EXCL, O_TRUNC, O_APPEND; ENOENT', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
write('a', b'hello world')
assert read('a') == b'hello world'
expect('EEXIST', os.open, 'a', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
fd = os.open('new', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
os.write(fd, b'x'); os.close(fd)
assert stat.S_IMODE(os.stat('new').st_mode) == 0o600
expect('ENOENT', os.open, 'missing', os.O_RDONLY)
expect('ENOENT', os.stat, 'missing')
expect('ENOENT', os.open, 'nodir/x', os.O_CREAT | os.O_WRONLY)
fd = os.open('a', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'new'); os.close(fd)
assert read('a') == b'new', read('a')
write('a', b'+more', 'ab')
write('a', b'+again', 'ab')
assert read('a') == b'new+more+again', read('a')
fd = os.open('a', os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET); os.write(fd, b'!'); os.close(fd)
assert read('a') == b'new+more+again!', read('a')
`,
    )
  })

  test('random offsets, sparse writes read zeros, st_size, st_blocks, st_nlink', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
fd = os.open('f', os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b'end', 1_000_000)
os.pwrite(fd, b'mid', 5000)
os.pwrite(fd, b'start', 0)
os.pwrite(fd, b'XY', 5001)
assert os.fstat(fd).st_size == 1_000_003, os.fstat(fd).st_size
assert os.pread(fd, 10, 4998) == b'\\0\\0mXY\\0\\0\\0\\0\\0'
os.close(fd)
data = read('f')
assert len(data) == 1_000_003
assert data[:5] == b'start' and data[5:5000] == bytes(4995) and data[5000:5003] == b'mXY'
assert data[5003:1_000_000] == bytes(1_000_000 - 5003) and data[-3:] == b'end'
st = os.stat('f')
assert st.st_size == 1_000_003 and st.st_nlink == 1
assert st.st_blocks == (1_000_003 + 511) // 512, st.st_blocks
assert st.st_blksize == 131072, st.st_blksize
os.mkdir('d')
d = os.stat('d')
assert stat.S_ISDIR(d.st_mode) and d.st_nlink >= 2
`,
    )
  })

  test('truncate down and up, by path and by handle; fstat sees the staged size', async (t) => {
    const { dir, volume } = await withMount(t)
    const script = pyIn(
      dir,
      `
write('f', b'0123456789')
os.truncate('f', 4)
assert read('f') == b'0123'
os.truncate('f', 8)
assert read('f') == b'0123' + bytes(4)
fd = os.open('f', os.O_RDWR)
os.ftruncate(fd, 2)
assert os.fstat(fd).st_size == 2
os.pwrite(fd, b'abc', 20)
assert os.fstat(fd).st_size == 23, os.fstat(fd).st_size
assert os.stat('f').st_size == 23, 'within the mount, stat sees what open handles wrote'
checkpoint('staged')
os.fsync(fd)
checkpoint('synced')
os.close(fd)
assert read('f') == b'01' + bytes(18) + b'abc'
expect('EISDIR', os.truncate, '.', 0)
`,
    )
    await checkpoint(volume, 'staged', async () => {
      assert.equal(
        (await volume.lookup('/f')).size,
        8,
        'the tree has the committed size until the handle commits',
      )
    })
    await checkpoint(volume, 'synced', async () => {
      assert.equal((await volume.lookup('/f')).size, 23)
    })
    await script
  })

  test('a writer commits on fsync and close; others see the new version at their next open', async (t) => {
    const { dir, volume } = await withMount(t)
    const text = async (p: string) => {
      const parts: Uint8Array[] = []
      for await (const c of volume.readStream(p)) parts.push(c)
      return Buffer.concat(parts).toString()
    }
    const script = pyIn(
      dir,
      `
write('f', b'old version')
r = os.open('f', os.O_RDONLY)
assert os.pread(r, 100, 0) == b'old version'
w = os.open('f', os.O_WRONLY)
os.pwrite(w, b'NEW', 0)
checkpoint('staged')
os.fsync(w)
checkpoint('synced')
assert read('f') == b'NEW version'
# The reader opened before holds one consistent version (close-to-open: new at its next open).
assert os.pread(r, 100, 0) in (b'old version', b'NEW version')
os.pwrite(w, b'!!!', 0)
os.close(w)
checkpoint('closed')
assert read('f') == b'!!! version'
os.close(r)
r = os.open('f', os.O_RDONLY)
assert os.pread(r, 100, 0) == b'!!! version'
os.close(r)
`,
    )
    await checkpoint(volume, 'staged', async () => assert.equal(await text('/f'), 'old version'))
    await checkpoint(volume, 'synced', async () => assert.equal(await text('/f'), 'NEW version'))
    await checkpoint(volume, 'closed', async () => assert.equal(await text('/f'), '!!! version'))
    await script
  })

  test('unlink of an open file: still readable and writable through its handle, gone from the directory', async (t) => {
    const { dir, volume } = await withMount(t)
    await pyIn(
      dir,
      `
write('f', b'content')
fd = os.open('f', os.O_RDWR)
os.unlink('f')
assert 'f' not in os.listdir('.'), os.listdir('.')
assert not any(n.startswith('.fuse_hidden') for n in os.listdir('.')), os.listdir('.')
expect('ENOENT', os.stat, 'f')
assert os.pread(fd, 100, 0) == b'content'
os.pwrite(fd, b'CON', 0)
assert os.pread(fd, 100, 0) == b'CONtent'
assert os.fstat(fd).st_size == 7
os.close(fd)
assert os.listdir('.') == [], os.listdir('.')
# rename over an open file: the old handle keeps the old content
write('a', b'AAA'); write('b', b'BBB')
fd = os.open('b', os.O_RDONLY)
os.rename('a', 'b')
assert read('b') == b'AAA'
assert os.pread(fd, 10, 0) == b'BBB'
os.close(fd)
assert sorted(os.listdir('.')) == ['b'], os.listdir('.')
`,
    )
    const { entries } = await volume.readdir('/')
    assert.deepEqual(
      entries.map((e) => e.name),
      ['b'],
      'no hidden file ever reached the tree',
    )
  })

  test('files written through the volume show in the mount, and the other way round', async (t) => {
    const { dir, volume } = await withMount(t)
    await volume.writeFile('/from-api', new TextEncoder().encode('api bytes'))
    assert.equal(await shOk(`cat ${dir}/from-api`), 'api bytes')
    await shOk(`printf 'mount bytes' > ${dir}/from-mount`)
    const chunks: Uint8Array[] = []
    for await (const c of volume.readStream('/from-mount')) chunks.push(c)
    assert.equal(Buffer.concat(chunks).toString(), 'mount bytes')
    // Replaced behind the kernel's back: the next open sees the new bytes (no stale page cache).
    await volume.writeFile('/from-mount', new TextEncoder().encode('replaced'))
    assert.equal(await shOk(`cat ${dir}/from-mount`), 'replaced')
    await volume.unlink('/from-api')
    assert.notEqual((await sh(`cat ${dir}/from-api`)).code, 0)
  })
})

describe('fuse: directories and names', { skip, timeout: 600_000 }, () => {
  test('mkdir, rmdir, ENOTEMPTY, ENOTDIR, EISDIR, EEXIST', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
os.mkdir('d', 0o750)
assert stat.S_IMODE(os.stat('d').st_mode) == 0o750
expect('EEXIST', os.mkdir, 'd')
write('d/f', b'x')
expect('ENOTEMPTY', os.rmdir, 'd')
expect('ENOTDIR', os.rmdir, 'd/f')
expect('ENOTDIR', os.open, 'd/f/x', os.O_CREAT | os.O_WRONLY)
expect('ENOTDIR', os.mkdir, 'd/f/x')
expect('EISDIR', os.open, 'd', os.O_WRONLY)
expect('EISDIR', os.unlink, 'd')
expect('ENOENT', os.rmdir, 'nope')
os.unlink('d/f')
os.rmdir('d')
assert os.listdir('.') == []
`,
    )
  })

  test('rename: file, over an existing file, across directories, directories, and the error cases', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
os.makedirs('a/sub'); os.mkdir('b'); os.mkdir('empty')
write('a/f', b'F'); write('b/g', b'G'); write('a/sub/deep', b'D')
os.rename('a/f', 'a/f2')
assert read('a/f2') == b'F'
os.rename('a/f2', 'b/g')
assert read('b/g') == b'F' and 'f2' not in os.listdir('a')
os.rename('a', 'c')
assert read('c/sub/deep') == b'D'
os.rename('c/sub', 'empty')
assert read('empty/deep') == b'D'
expect('ENOTEMPTY', os.rename, 'b', 'empty')
write('file', b'x')
expect('EISDIR', os.rename, 'file', 'b')
expect('ENOTDIR', os.rename, 'b', 'file')
expect('EINVAL', os.rename, 'c', 'c/inside')
expect('ENOENT', os.rename, 'missing', 'x')
os.rename('file', 'file')
assert read('file') == b'x'
`,
    )
  })

  test('readdir lists . and .. and pages through a large directory', async (t) => {
    const { dir, volume } = await withMount(t)
    // Entry creation is slow in the tree (ms each): a few pages of 1000 here, 100k with BT_FUSE_ENTRIES.
    const n = Number(process.env.BT_FUSE_ENTRIES ?? 2100)
    await volume.mkdir('/big', 0o755)
    const fhs: number[] = []
    for (let i = 0; i < n; i++)
      fhs.push((await volume.create(`/big/f${String(i).padStart(6, '0')}`, 0o644)).fh)
    for (const fh of fhs) await volume.release(fh)
    const out = await pyIn(
      dir,
      `
names = os.listdir('big')
print(len(names))
assert sorted(names) == ['f%06d' % i for i in range(${n})]
import subprocess
dots = subprocess.run(['ls', '-a', 'big'], capture_output=True, text=True, check=True).stdout.split()
assert dots[:2] == ['.', '..'], dots[:3]
`,
      120_000,
    )
    assert.match(out, new RegExp(`^${n}$`, 'm'))
  })

  test('symlink and readlink; programs follow links through the kernel', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
os.mkdir('d'); write('d/target', b'T')
os.symlink('d/target', 'link')
os.symlink('nowhere', 'dangling')
assert os.readlink('link') == 'd/target'
assert stat.S_ISLNK(os.lstat('link').st_mode)
assert read('link') == b'T'
assert os.lstat('link').st_size == len('d/target')
expect('ENOENT', os.stat, 'dangling')
expect('EEXIST', os.symlink, 'x', 'link')
expect('EINVAL', os.readlink, 'd/target')
os.unlink('link')
assert read('d/target') == b'T'
`,
    )
  })

  test('chmod, chown (only to the owner), utimens, no hard links, no special files', async (t) => {
    const { dir } = await withMount(t)
    await pyIn(
      dir,
      `
write('f', b'x')
os.chmod('f', 0o600)
assert stat.S_IMODE(os.stat('f').st_mode) == 0o600
os.chmod('f', 0o4755)
assert stat.S_IMODE(os.stat('f').st_mode) == 0o4755
st = os.stat('f')
os.chown('f', st.st_uid, st.st_gid)
os.chown('f', -1, -1)
expect('EPERM', os.chown, 'f', st.st_uid + 1234, -1)
os.utime('f', (1_000_000_000, 1_000_000_000))
assert os.stat('f').st_mtime == 1_000_000_000, os.stat('f').st_mtime
os.utime('f', ns=(1_500_000_000_123_000_000, 1_500_000_000_123_000_000))
assert os.stat('f').st_mtime_ns == 1_500_000_000_123_000_000, os.stat('f').st_mtime_ns
import time
before = time.time()
os.utime('f')
assert abs(os.stat('f').st_mtime - before) < 30
os.mkdir('d'); os.utime('d', (2_000_000_000, 2_000_000_000))
assert os.stat('d').st_mtime == 2_000_000_000
# Times set apart (as cp -a and tar do), one at a time (touch -m / -a), through an open handle.
os.utime('f', (100, 1_100_000_000))
assert os.stat('f').st_mtime == 1_100_000_000, os.stat('f').st_mtime
os.utime('f', ns=(time.time_ns(), 1_200_000_000 * 10**9))
assert os.stat('f').st_mtime == 1_200_000_000
import subprocess
subprocess.run(['touch', '-a', 'f'], check=True)
assert os.stat('f').st_mtime == 1_200_000_000, 'touch -a leaves the mtime'
subprocess.run(['touch', '-m', '-d', '@1300000000', 'f'], check=True)
assert os.stat('f').st_mtime == 1_300_000_000, os.stat('f').st_mtime
fd = os.open('g', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'data')
os.utime(fd, (5, 1_400_000_000))
os.close(fd)
assert os.stat('g').st_mtime == 1_400_000_000, 'an mtime set before close survives the commit'
assert read('g') == b'data'
os.unlink('g')
expect('EPERM', os.link, 'f', 'hard')
expect('EPERM', os.mkfifo, 'fifo')
assert sorted(os.listdir('.')) == ['d', 'f']
`,
    )
  })

  test('statfs reports the volume', async (t) => {
    const { dir, volume } = await withMount(t)
    const s = await volume.statfs()
    const out = await pyIn(
      dir,
      `
s = os.statvfs('.')
print(s.f_bsize, s.f_blocks, s.f_namemax)
`,
    )
    const [bsize, blocks, namemax] = out.split('\n')[0]!.split(' ').map(Number)
    assert.equal(bsize, s.bsize)
    assert.equal(blocks, Math.min(s.blocks, 0xffffffff))
    assert.equal(namemax, 255)
    assert.match(await shOk(`df -P ${dir}`), /bt:test/)
  })
})
