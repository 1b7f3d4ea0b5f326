// SPDX-License-Identifier: GPL-3.0-or-later
// tuntox's -f rules file: parsing and matching as ../shared/TUNTOX.md §6 describes them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResolvedTarget } from '../../src/config/rules.ts';
import { type CanonicalAddress, canonicalHost } from '../../src/net/target-host.ts';
import { looksLikeTuntoxRules, parseTuntoxRules, TuntoxRules } from '../../src/tuntox/rules-file.ts';

const policy = (text: string) => new TuntoxRules(parseTuntoxRules(text).rules);
const key = 'A'.repeat(64);
/** A host as the server checks it: a literal address, or a name (optionally resolved to `addresses`). */
function at(host: string, ...addresses: string[]): ResolvedTarget {
  const canonical = canonicalHost(host);
  if (canonical.kind !== 'name') return { addresses: [canonical] };
  return { name: canonical.text, addresses: addresses.map((a) => canonicalHost(a) as CanonicalAddress) };
}

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

test('whitespace is not trimmed: " h:22" never matches h (and is warned); a trailing \\r is harmless after the port', () => {
  const p = policy(' h:22\nk:23\r\n');
  assert.not.ok(p.decide(key, at('h'), 22).allowed);
  assert.match(p.warnings.join('\n'), /line 1: " h" is not a valid host \(the rule never matches\)/);
  assert.ok(p.decide(key, at('k'), 23).allowed);
});

test('a line longer than 100 characters is parsed as several chunks', () => {
  const long = `${'a'.repeat(95)}:22:${'b'.repeat(10)}:80\n`;
  const parsed = parseTuntoxRules(long);
  // chunk 1: 100 characters "aaa…:22:b" -> host aaa…, port 22; chunk 2: "bbbbbbbbb:80\n" -> host bbb…, port 80.
  assert.equal(parsed.rules.map((r) => [r.host.length, r.port]), [[95, 22], [9, 80]]);
});

test('matching: the host (canonical form) or "*", and the port; no DNS between names and addresses', () => {
  const p = policy('localhost:22\n127.0.0.1:23\n*:8080\n');
  const name = p.decide(key, at('localhost', '127.0.0.1'), 22);
  assert.ok(name.allowed);
  assert.is(name.address?.text, '127.0.0.1', 'a name rule dials the address the name resolved to');
  assert.ok(p.decide(key, at('LOCALHOST', '127.0.0.1'), 22).allowed, 'names compare in canonical (lower-case) form');
  assert.not.ok(p.decide(key, at('127.0.0.1'), 22).allowed, 'localhost is not 127.0.0.1');
  assert.not.ok(p.decide(key, at('localhost', '127.0.0.1'), 23).allowed, 'an address rule does not allow a name that resolves to it');
  assert.ok(p.decide(key, at('127.1'), 23).allowed, 'IPv4 forms compare as the address');
  assert.not.ok(p.decide(key, at('localhost', '127.0.0.1'), 24).allowed, 'the port must match');
  assert.ok(p.decide(key, at('anything.example', '192.0.2.7'), 8080).allowed);
  assert.ok(p.mayResolve(key, 'localhost', 22).allowed);
  assert.not.ok(p.mayResolve(key, 'other.example', 22).allowed, 'a name no rule could allow is not looked up');
  assert.ok(p.admits(), 'rules are not per friend: every accepted friend is admitted');
  assert.not.ok(p.decideListen().allowed, 'no reverse tunnels from a tuntox file');
});

test('a file with no valid rule denies everything', () => {
  assert.not.ok(policy('').decide(key, at('localhost', '127.0.0.1'), 22).allowed);
  assert.not.ok(policy('# nothing\nbogus\n').decide(key, at('127.0.0.1'), 22).allowed);
});

test('format detection: our YAML has "rules:"; host:port lines are tuntox', () => {
  assert.ok(looksLikeTuntoxRules('# tuntox\n127.0.0.1:22\nlocalhost@80\n'));
  assert.not.ok(looksLikeTuntoxRules('rules:\n  - friend: x\n'));
  assert.not.ok(looksLikeTuntoxRules(''), 'an empty file is read as ours (it denies everything in both)');
  assert.not.ok(looksLikeTuntoxRules('foo: bar\n'));
});

test.run();
