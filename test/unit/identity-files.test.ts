// SPDX-License-Identifier: GPL-3.0-or-later
// tox_save.dat on a real file system, against the attacks in the access-control issue: a
// symlink planted where the temporary file used to go (`tox_save.dat.tmp-<pid>`), a
// pre-created 0666 temporary file, tox_save.dat itself replaced by a symlink, a data dir that
// others may write to, a umask of 0. Also: the save data written is what is read back.
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSavedata, prepareDataDir, saveFilePath, writeSavedata } from '../../src/app/identity.ts';
import { isToxtunnelError } from '../../src/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'toxtunnel-identity-'));
let n = 0;
const freshDir = () => join(root, `data-${n++}`);
const SECRET = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);

test.after(() => rmSync(root, { recursive: true, force: true }));

test('a new data dir is created 0700 and the save file 0600, and reads back byte-exact', () => {
  const dir = freshDir();
  writeSavedata(dir, SECRET);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  assert.is(statSync(saveFilePath(dir)).mode & 0o777, 0o600);
  assert.equal([...loadSavedata(dir)!], [...SECRET]);
  assert.equal(readdirSync(dir), ['tox_save.dat'], 'no temporary file left behind');
});

test('a symlink planted at the old temporary name is never followed: its target keeps its content', () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  const victim = join(root, `victim-${n}`);
  writeFileSync(victim, 'precious');
  symlinkSync(victim, `${saveFilePath(dir)}.tmp-${process.pid}`);
  writeSavedata(dir, SECRET);
  assert.is(readFileSync(victim, 'utf8'), 'precious');
  assert.equal([...loadSavedata(dir)!], [...SECRET]);
});

test('a pre-created 0666 file at the old temporary name does not make tox_save.dat 0666', () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  const planted = `${saveFilePath(dir)}.tmp-${process.pid}`;
  writeFileSync(planted, 'x');
  chmodSync(planted, 0o666);
  writeSavedata(dir, SECRET);
  assert.is(statSync(saveFilePath(dir)).mode & 0o777, 0o600);
});

test('tox_save.dat replaced by a symlink: the write replaces the link, the link target is untouched', () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  const victim = join(root, `victim-${n}`);
  writeFileSync(victim, 'precious');
  symlinkSync(victim, saveFilePath(dir));
  writeSavedata(dir, SECRET);
  assert.is(readFileSync(victim, 'utf8'), 'precious');
  assert.ok(lstatSync(saveFilePath(dir)).isFile(), 'a regular file now');
  assert.is(statSync(saveFilePath(dir)).mode & 0o777, 0o600);
});

test('umask 0 still gives a 0600 file', () => {
  const dir = freshDir();
  const old = process.umask(0);
  try {
    writeSavedata(dir, SECRET);
  } finally {
    process.umask(old);
  }
  assert.is(statSync(saveFilePath(dir)).mode & 0o777, 0o600);
});

test('a data dir its group or everyone may write to is refused, with the chmod that fixes it', () => {
  for (const mode of [0o777, 0o770, 0o702]) {
    const dir = freshDir();
    mkdirSync(dir);
    chmodSync(dir, mode);
    try {
      prepareDataDir(dir);
      assert.unreachable(`mode ${mode.toString(8)} accepted`);
    } catch (error) {
      assert.ok(isToxtunnelError(error, 'CONFIG_DATA_DIR_INSECURE'), String(error));
      assert.match((error as Error).message, new RegExp(`chmod 700 ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    assert.throws(() => writeSavedata(dir, SECRET), /chmod 700/);
    assert.is(loadSavedata(dir), undefined, 'nothing was written');
  }
  const fine = freshDir();
  mkdirSync(fine);
  chmodSync(fine, 0o755);
  prepareDataDir(fine); // readable by others is the user's choice; writable is not
});

test.run();
