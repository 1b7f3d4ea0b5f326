// SPDX-License-Identifier: GPL-3.0-or-later
// The canonical form of hosts and the rules' matcher, table-driven. Expected values are written
// from the specifications, not from the code: inet_aton(3) (1–4 parts, decimal / 0x-hex /
// 0-octal, the last part filling the remaining bytes), the WHATWG URL Standard's host parser
// ("ends in a number", IPv4 number parser, IPv6 serializer), RFC 4291 (IPv6 addressing and the
// IPv4-mapped form), RFC 5952 (IPv6 text), UTS #46 (IDNA mapping), RFC 1035/1123 (labels),
// RFC 6890 (special-purpose addresses) and RFC 4632 (CIDR).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseHostPattern } from '../../src/config/host-pattern.ts';
import { parseRules } from '../../src/config/rules.ts';
import { listenAddress } from '../../src/app/reverse-listeners.ts';
import { canonicalHost, classifyAddress, notATarget } from '../../src/net/target-host.ts';
import { ThrottledLog, TokenBucket } from '../../src/app/rate-limit.ts';

type Case = [input: string, expected: string];
const REFUSED = 'refused';

function canonical(input: string): string {
  try {
    const host = canonicalHost(input);
    return `${host.kind} ${host.text}`;
  } catch {
    return REFUSED;
  }
}

const table = (title: string, cases: Case[]) =>
  test(`canonical host: ${title} (${cases.length} cases)`, () => {
    for (const [input, expected] of cases) assert.is(canonical(input), expected, `canonicalHost(${JSON.stringify(input)})`);
  });

table('IPv4 in every form inet_aton accepts becomes a dotted quad', [
  ['127.0.0.1', 'ipv4 127.0.0.1'],
  ['127.1', 'ipv4 127.0.0.1'], // a.b: b fills 24 bits
  ['127.0.1', 'ipv4 127.0.0.1'], // a.b.c: c fills 16 bits
  ['2130706433', 'ipv4 127.0.0.1'], // one 32-bit number
  ['0x7f000001', 'ipv4 127.0.0.1'],
  ['0X7F000001', 'ipv4 127.0.0.1'],
  ['017700000001', 'ipv4 127.0.0.1'], // octal
  ['0x7f.1', 'ipv4 127.0.0.1'],
  ['0177.0.0.1', 'ipv4 127.0.0.1'],
  ['0177.0.0.01', 'ipv4 127.0.0.1'],
  ['127.0.0.1.', 'ipv4 127.0.0.1'], // one trailing dot (WHATWG)
  ['10.256', 'ipv4 10.0.1.0'], // 256 in the last (24-bit) part
  ['192.168.257', 'ipv4 192.168.1.1'],
  ['0', 'ipv4 0.0.0.0'],
  ['0x0', 'ipv4 0.0.0.0'],
  ['4294967295', 'ipv4 255.255.255.255'],
  ['4294967296', REFUSED], // more than 32 bits
  ['256.0.0.1', REFUSED], // a non-last part above 255
  ['1.2.3.4.5', REFUSED], // five parts, ends in a number: never a name
  ['08.0.0.1', REFUSED], // "08" is not valid octal
  ['0x100000000', REFUSED],
  ['1.2.3.0x', 'ipv4 1.2.3.0'], // WHATWG: "0x" alone is zero
]);

table('IPv6 is normalised (RFC 5952) and IPv4-mapped becomes IPv4 (RFC 4291 2.5.5.2)', [
  ['::1', 'ipv6 ::1'],
  ['[::1]', 'ipv6 ::1'],
  ['0:0:0:0:0:0:0:1', 'ipv6 ::1'],
  ['[0000:0000:0000:0000:0000:0000:0000:0001]', 'ipv6 ::1'],
  ['2001:DB8::1', 'ipv6 2001:db8::1'],
  ['2001:db8:0:0:1:0:0:1', 'ipv6 2001:db8::1:0:0:1'], // the first of two equal runs
  ['2001:0db8:0000:0000:0000:ff00:0042:8329', 'ipv6 2001:db8::ff00:42:8329'],
  ['fe80::1', 'ipv6 fe80::1'],
  ['::ffff:127.0.0.1', 'ipv4 127.0.0.1'],
  ['[::ffff:127.0.0.1]', 'ipv4 127.0.0.1'],
  ['::ffff:7f00:1', 'ipv4 127.0.0.1'],
  ['0:0:0:0:0:ffff:7f00:1', 'ipv4 127.0.0.1'],
  ['::ffff:10.1.2.3', 'ipv4 10.1.2.3'],
  ['::', 'ipv6 ::'],
  ['[fe80::1%eth0]', REFUSED], // zone ids are refused
  ['1:2:3:4:5:6:7:8:9', REFUSED],
  ['::1::', REFUSED],
  ['[::1', REFUSED],
  ['2001:db8::g', REFUSED],
]);

table('names: lower case, IDNA (UTS #46) to ASCII, refused when the mapping changes what was written', [
  ['localhost', 'name localhost'],
  ['LocalHost', 'name localhost'],
  ['localhost.', 'name localhost'],
  ['db.internal', 'name db.internal'],
  ['my_service', 'name my_service'], // container and service names
  ['192.168.1.5.evil.example', 'name 192.168.1.5.evil.example'], // does not end in a number
  ['1e3', 'name 1e3'],
  ['bücher.example', 'name xn--bcher-kva.example'],
  ['BÜCHER.example', 'name xn--bcher-kva.example'],
  ['xn--bcher-kva.example', 'name xn--bcher-kva.example'],
  ['日本語.jp', 'name xn--wgv71a119e.jp'],
  ['ひらがな漢字.jp', 'name xn--v8j0cwa6gy22xv2ya.jp'], // Japanese: Han and kana together are one script
  ['ｌｏｃａｌｈｏｓｔ', REFUSED], // fullwidth letters map to "localhost"
  ['１２７.０.０.１', REFUSED], // fullwidth digits map to an address
  ['local\u00adhost', REFUSED], // a soft hyphen is dropped by the mapping
  ['local\u200bhost', REFUSED], // zero-width space
  ['pаypal.com', REFUSED], // Cyrillic "а" among Latin letters
  ['ex%41mple.com', REFUSED], // no percent-encoding
  ['evil.com@127.0.0.1', REFUSED],
  ['evil.com/127.0.0.1', REFUSED],
  ['a b', REFUSED],
  ['a..b', REFUSED],
  ['.a', REFUSED],
  ['-a.example', REFUSED],
  ['a-.example', REFUSED],
  ['*.example', REFUSED],
  ['x'.repeat(64) + '.example', REFUSED], // a label longer than 63
  [('a'.repeat(63) + '.').repeat(4) + 'b', REFUSED], // longer than 253
  ['', REFUSED],
  ['xn--zz', REFUSED], // not valid punycode
]);

test('address classes (RFC 6890): unspecified, this network, broadcast and multicast are never targets', () => {
  const cases: Array<[string, string, boolean]> = [
    ['0.0.0.0', 'unspecified', false],
    ['0', 'unspecified', false],
    ['0.1.2.3', 'this-network', false],
    ['255.255.255.255', 'broadcast', false],
    ['224.0.0.1', 'multicast', false],
    ['239.255.255.250', 'multicast', false],
    ['::', 'unspecified', false],
    ['ff02::1', 'multicast', false],
    ['::7f00:1', 'ipv4-compatible', false],
    ['127.0.0.1', 'loopback', true],
    ['127.255.0.9', 'loopback', true],
    ['::1', 'loopback', true],
    ['10.0.0.1', 'ordinary', true],
    ['223.255.255.255', 'ordinary', true],
    ['2001:db8::1', 'ordinary', true],
  ];
  for (const [input, kind, dialable] of cases) {
    const host = canonicalHost(input);
    if (host.kind === 'name') throw new Error(`${input} read as a name`);
    assert.is(classifyAddress(host), kind, input);
    assert.is(notATarget(host) === undefined, dialable, input);
  }
});

const patterns: Array<[string, string]> = [
  ['*', 'any *'],
  ['10.0.0.0/8', 'cidr 10.0.0.0/8'],
  ['192.168.1.*', 'cidr 192.168.1.0/24'], // whole trailing octets become CIDR
  ['10.*', 'cidr 10.0.0.0/8'],
  ['172.16.*', 'cidr 172.16.0.0/16'],
  ['192.168.1.7', 'cidr 192.168.1.7/32'], // a plain address is /32
  ['127.1', 'cidr 127.0.0.1/32'],
  ['::1', 'cidr ::1/128'],
  ['[::1]', 'cidr ::1/128'],
  ['fd00::/8', 'cidr fd00::/8'],
  ['::ffff:10.0.0.0/104', 'cidr 10.0.0.0/8'], // mapped prefix = the IPv4 prefix + 96
  ['0.0.0.0/0', 'cidr 0.0.0.0/0'],
  ['DB.Internal', 'name db.internal'],
  ['*.internal', 'name-wildcard *.internal'],
  ['db.*', 'name-wildcard db.*'],
  ['10.0.0.1/8', REFUSED], // host bits set
  ['10.0.0.0/33', REFUSED],
  ['fd00::/129', REFUSED],
  ['db.internal/24', REFUSED],
  ['10.*.1', REFUSED], // numeric with an inner star
  ['*.1', REFUSED],
  ['1.2.3.4.*', REFUSED],
  ['300.*', REFUSED],
  ['*.*', REFUSED],
  ['fd00:*', REFUSED],
];

test(`host patterns: CIDR, addresses, octet wildcards as CIDR, names and name wildcards (${patterns.length} cases)`, () => {
  for (const [input, expected] of patterns) {
    let got: string;
    try {
      const p = parseHostPattern(input);
      got = `${p.kind} ${p.text}`;
    } catch {
      got = REFUSED;
    }
    assert.is(got, expected, `parseHostPattern(${JSON.stringify(input)})`);
  }
});

const A = 'A'.repeat(64);
const B = 'B'.repeat(64);

function rules(entries: string): ReturnType<typeof parseRules> {
  return parseRules(`rules:\n  - friend: ${A}\n${entries}`, 'rules.yaml');
}

test('the issue\'s rules (allow * port 7001, deny loopback by three names): every spelling of loopback is denied', () => {
  const set = rules(`    allow:\n      - host: "*"\n        ports: [7001]\n    deny:\n      - host: 127.0.0.1\n      - host: localhost\n      - host: "::1"\n`);
  const loopback = ['127.0.0.1', '127.1', '0x7f000001', '017700000001', '2130706433', '0x7f.1', '[::ffff:127.0.0.1]', '::ffff:7f00:1', '0:0:0:0:0:0:0:1', 'LOCALHOST', 'localhost.'];
  for (const host of loopback) assert.not.ok(set.decideHost(A, host, 7001).allowed, host);
  // Spellings that are refused outright are denied too.
  for (const host of ['１２７.０.０.１', 'ｌｏｃａｌｈｏｓｔ', 'local\u00adhost', '127.0.0.1%00']) assert.not.ok(set.decideHost(A, host, 7001).allowed, host);
  assert.ok(set.decideHost(A, '10.1.2.3', 7001).allowed, 'another address is allowed');
  assert.not.ok(set.decideHost(A, '10.1.2.3', 7002).allowed, 'another port is not');
});

test('decide() on resolved addresses: deny wins if any address is denied; the dialled address is an allowed one', () => {
  const set = rules(`    allow:\n      - host: "*.example"\n      - host: 10.0.0.0/8\n    deny:\n      - host: 127.0.0.0/8\n`);
  const addr = (text: string) => {
    const h = canonicalHost(text);
    if (h.kind === 'name') throw new Error(text);
    return h;
  };
  // A name that resolves to loopback is denied, whatever it is called.
  assert.not.ok(set.decide(A, { name: 'web.example', addresses: [addr('127.0.0.1')] }, 80).allowed);
  assert.not.ok(set.decide(A, { name: 'web.example', addresses: [addr('10.0.0.5'), addr('127.0.0.1')] }, 80).allowed, 'one denied address denies');
  const allowed = set.decide(A, { name: 'web.example', addresses: [addr('192.0.2.1')] }, 80);
  assert.ok(allowed.allowed, 'allowed by the name');
  assert.is(allowed.address?.text, '192.0.2.1');
  // Allowed by the address: only the covered address is dialled.
  const byAddress = set.decide(A, { name: 'db.lan', addresses: [addr('192.0.2.9'), addr('10.9.9.9')] }, 5432);
  assert.ok(byAddress.allowed);
  assert.is(byAddress.address?.text, '10.9.9.9');
  assert.not.ok(set.decide(A, { name: 'db.lan', addresses: [addr('192.0.2.9')] }, 5432).allowed, 'neither name nor address allowed');
  assert.not.ok(set.decide(B, { addresses: [addr('10.0.0.1')] }, 22).allowed, 'a friend with no rule');
});

test('numeric wildcards never match names; name wildcards never match addresses', () => {
  const set = rules(`    allow:\n      - host: "192.168.1.*"\n      - host: "*.lan"\n`);
  assert.ok(set.decideHost(A, '192.168.1.5', 22).allowed);
  assert.ok(set.decideHost(A, '192.168.257', 22).allowed, '192.168.257 is 192.168.1.1');
  assert.not.ok(set.decideHost(A, '192.168.1.5.evil.example', 22).allowed, 'a name that starts like the address');
  assert.not.ok(set.decideHost(A, '192.168.2.5', 22).allowed);
  assert.ok(set.decideHost(A, 'nas.lan', 22).allowed);
  // A wildcard that could read as part of an address is refused rather than guessed at.
  assert.throws(() => rules(`    allow:\n      - host: "*1"\n`), /looks like an address with a wildcard/);
  const star = rules(`    allow:\n      - host: "*"\n    deny:\n      - host: "*.lan"\n`);
  assert.ok(star.decideHost(A, '10.0.0.1', 22).allowed, 'a name wildcard deny does not touch an address');
});

test('mayResolve refuses before any lookup a name that no answer could make allowed', () => {
  const set = rules(`    allow:\n      - host: db.internal\n        ports: [5432]\n    deny:\n      - host: "*.evil"\n`);
  assert.ok(set.mayResolve(A, 'db.internal', 5432).allowed);
  assert.not.ok(set.mayResolve(A, 'db.internal', 22).allowed, 'wrong port');
  assert.not.ok(set.mayResolve(A, 'other.internal', 5432).allowed, 'no allow entry for that name, and no CIDR entry');
  assert.not.ok(set.mayResolve(A, 'x.evil', 5432).allowed, 'denied by name');
  const cidr = rules(`    allow:\n      - host: 10.0.0.0/8\n`);
  assert.ok(cidr.mayResolve(A, 'anything.lan', 22).allowed, 'a CIDR entry may cover what it resolves to');
});

test('listen rules: "*" covers loopback only; other binds and ports below 1024 must be spelled out', () => {
  const set = rules(`    listen:\n      - bind: "*"\n      - bind: 0.0.0.0\n        ports: [8443]\n      - ports: [80]\n`);
  const at = (bind: string) => listenAddress(bind);
  assert.ok(set.decideListen(A, at('127.0.0.1'), 8080).allowed);
  assert.ok(set.decideListen(A, at('::1'), 8080).allowed);
  assert.ok(set.decideListen(A, at(''), 0).allowed, 'empty bind = 127.0.0.1, port 0 = any free port');
  assert.not.ok(set.decideListen(A, at('0.0.0.0'), 8080).allowed, 'every interface needs an explicit entry');
  assert.ok(set.decideListen(A, at('*'), 8443).allowed, '"*" asked by the client is 0.0.0.0, allowed on the listed port');
  assert.not.ok(set.decideListen(A, at('127.0.0.1'), 443).allowed, 'a privileged port not listed');
  assert.ok(set.decideListen(A, at('127.0.0.1'), 80).allowed, 'a privileged port listed');
  assert.throws(() => listenAddress('example.com'), /address, not a name/);
  assert.throws(() => listenAddress('224.0.0.1'), /multicast/);
  assert.throws(() => rules(`    listen:\n      - bind: example.com\n`), /rules\.yaml:\d+:\d+: .*listen\[0\]\.bind: .*not a name/);
});

test('a bad pattern is refused at load with the file, line and reason', () => {
  assert.throws(() => rules(`    allow:\n      - host: "10.*.1"\n`), /rules\.yaml:\d+:\d+: rules\[0\]\.allow\[0\]\.host: .*CIDR/);
  assert.throws(() => rules(`    deny:\n      - host: "10.0.0.1/8"\n`), /bits set after the \/8 prefix \(did you mean 10\.0\.0\.0\/8\?\)/);
});

test('TokenBucket: a burst, then the sustained rate', () => {
  let now = 0;
  const bucket = new TokenBucket(10, 5, () => now);
  let taken = 0;
  for (let i = 0; i < 20; i++) if (bucket.take()) taken++;
  assert.is(taken, 5, 'the burst');
  now += 1000;
  taken = 0;
  for (let i = 0; i < 20; i++) if (bucket.take()) taken++;
  assert.is(taken, 5, 'refilled to the burst at most');
  now += 100;
  assert.ok(bucket.take(), 'one token after 100 ms at 10/s');
  assert.not.ok(bucket.take());
});

test('ThrottledLog: once per key per interval, then a count of what was held back', () => {
  let now = 0;
  const lines: string[] = [];
  const log = new ThrottledLog((t) => lines.push(t), 60_000, () => now);
  for (let i = 0; i < 100; i++) log.log('friend-a', 'denied');
  log.log('friend-b', 'denied b');
  assert.equal(lines, ['denied', 'denied b']);
  now = 61_000;
  log.log('friend-a', 'denied');
  assert.is(lines.length, 3);
  assert.match(lines[2]!, /denied \(and 99 more like it in the last 61 s\)/);
});

test.run();
