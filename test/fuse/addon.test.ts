/**
 * `npm install` builds our fuse-native addon (fuse/native/build.sh, run by
 * package.json's prepare script): without it mounts fall back to the stock
 * addon, which loses modification times (tar, cp -a, touch -m).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addonProblem, exactTimes } from '../../fuse/native.js'
import { fuseSkipReason } from '../helpers/fuse.js'

test('the rebuilt fuse-native addon is the one loaded', { skip: fuseSkipReason() }, () => {
  assert.equal(exactTimes, true, `the stock addon was loaded instead: ${addonProblem ?? 'no reason given'}`)
})
