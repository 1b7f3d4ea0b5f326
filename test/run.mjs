#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// Runs every test file (test/unit/*.test.ts, then test/e2e/*.test.ts) in its own Node process
// (TypeScript through tsx; each file is a uvu suite), one after another, each with a time
// limit, and ends with the line "N passed, N failed". Filter: node test/run.mjs <substring>...
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const filters = process.argv.slice(2);
const FILE_TIMEOUT_MS = Number(process.env.TOXTUNNEL_TEST_TIMEOUT_MS ?? 600_000);

const files = ['unit', 'e2e'].flatMap((dir) =>
  readdirSync(join(here, dir))
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => join(here, dir, name)),
).filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Without ALL_PROXY: toxtunnel honours it (docs/proxy.md), and a machine-wide proxy would
      // send every test's Tox traffic to a proxy that loopback-only tests cannot reach.
      env: { ...process.env, FORCE_COLOR: '0', ALL_PROXY: undefined, all_proxy: undefined },
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[test/run.mjs] ${relative(root, file)} exceeded ${FILE_TIMEOUT_MS} ms: killed\n`;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

for (const file of files) {
  const name = relative(root, file);
  const { code, output, seconds } = await runFile(file);
  const total = /Total:\s+(\d+)/.exec(output);
  const pass = /Passed:\s+(\d+)/.exec(output);
  const skip = /Skipped:\s+(\d+)/.exec(output);
  const p = pass ? Number(pass[1]) : 0;
  const t = total ? Number(total[1]) : 0;
  const s = skip ? Number(skip[1]) : 0;
  // uvu's Total already leaves skipped tests out.
  let f = t - p;
  if (code !== 0 && f === 0) f = 1; // crashed, timed out or failed outside a test
  passed += p;
  failed += f;
  skipped += s;
  const status = f > 0 ? 'FAIL' : 'ok  ';
  console.log(`${status} ${name}  (${p} passed${f ? `, ${f} failed` : ''}${s ? `, ${s} skipped` : ''}, ${seconds.toFixed(1)} s)`);
  if (f > 0 || process.env.TOXTUNNEL_TEST_VERBOSE) {
    if (f > 0) failures.push(name);
    console.log(output.replace(/^/gm, '    | '));
  }
}

if (files.length === 0) {
  console.log('no test files matched');
  process.exitCode = 1;
}
if (failures.length) console.log(`failed files: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
