#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// Runs every benchmark in bench/ one after another (`npm run bench`); each prints its figures.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
for (const script of ['bench/tox-raw.ts', 'bench/tunnel.ts']) {
  console.log(`\n=== ${script}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exitCode = 1;
}
