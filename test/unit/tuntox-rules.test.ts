// SPDX-License-Identifier: GPL-3.0-or-later
// tuntox's -f rules file: parsing and matching as ../shared/TUNTOX.md §6 describes them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { looksLikeTuntoxRules, parseTuntoxRules, TuntoxRules } from '../../src/tuntox/rules-file.ts';

const policy = (text: string) => new TuntoxRules(parseTuntoxRules(text).rules);
const key = 'A'.repeat(64);

test('host:port and host@port lines; comments and blank lines skipped', () => {
  const parsed = parseTuntoxRules('# ssh\n127.0.0.1:22\n\nlocalhost@8080\n*:5900\n');
  assert.equal(parsed.rules.map((r) => [r.host, r.port]), [['127.0.0.1', 22], ['localhost', 8080], ['*', 5900]]);
  assert.equal(parsed.warnings, []);
});

test('runs of ":" collapse, a leading ":" is skipped, the port is atoi of the second token', () => {
  const parsed = parseTuntoxRules('::host:::22:ignored\nh:22abc\n');
  assert.equal(parsed.rules.map((r) => [r.host, r.port]), [['host', 22], ['h', 22]]);
});

test('ports outside 1..65534 (65535, 0, "*", negative) drop the rule; fewer than 2 tokens are skipped', () => {
  const parsed = parseTuntoxRules('h:65535\nh:0\nh:*\nh:-5\njusthost\n:\nh:65534\n');
  assert.equal(parsed.rules.map((r) => r.port), [65534]);
  assert.is(parsed.warnings.length, 6);
  assert.match(parsed.warnings[4]!, /line 5: "justhost" is not host:port/);
});

test('whitespace is not trimmed: " h:22" never matches h; a trailing \\r is harmless after the port', () => {
  const p = policy(' h:22\nk:23\r\n');
  assert.not.ok(p.decide(key, 'h', 22).allowed);
  assert.ok(p.decide(key, ' h', 22).allowed);
  assert.ok(p.decide(key, 'k', 23).allowed);
});

test('a line longer than 100 characters is parsed as several chunks', () => {
  const long = `${'a'.repeat(95)}:22:${'b'.repeat(10)}:80\n`;
  const parsed = parseTuntoxRules(long);
  // chunk 1: 100 characters "aaa…:22:b" -> host aaa…, port 22; chunk 2: "bbbbbbbbb:80\n" -> host bbb…, port 80.
  assert.equal(parsed.rules.map((r) => [r.host.length, r.port]), [[95, 22], [9, 80]]);
});

test('matching: exact, case-sensitive host or "*", and the port; no DNS (localhost is not 127.0.0.1)', () => {
  const p = policy('localhost:22\n*:8080\n');
  assert.ok(p.decide(key, 'localhost', 22).allowed);
  assert.not.ok(p.decide(key, 'LOCALHOST', 22).allowed);
  assert.not.ok(p.decide(key, '127.0.0.1', 22).allowed);
  assert.not.ok(p.decide(key, 'localhost', 23).allowed);
  assert.ok(p.decide(key, 'anything.example', 8080).allowed);
  assert.ok(p.admits(), 'rules are not per friend: every accepted friend is admitted');
  assert.not.ok(p.decideListen().allowed, 'no reverse tunnels from a tuntox file');
});

test('a file with no valid rule denies everything', () => {
  assert.not.ok(policy('').decide(key, 'localhost', 22).allowed);
  assert.not.ok(policy('# nothing\nbogus\n').decide(key, 'localhost', 22).allowed);
});

test('format detection: our YAML has "rules:"; host:port lines are tuntox', () => {
  assert.ok(looksLikeTuntoxRules('# tuntox\n127.0.0.1:22\nlocalhost@80\n'));
  assert.not.ok(looksLikeTuntoxRules('rules:\n  - friend: x\n'));
  assert.not.ok(looksLikeTuntoxRules(''), 'an empty file is read as ours (it denies everything in both)');
  assert.not.ok(looksLikeTuntoxRules('foo: bar\n'));
});

test.run();
