// SPDX-License-Identifier: GPL-3.0-or-later
// The help of each subcommand (the built CLI): exactly its own options, each once, one
// example, no trailing spaces; init names the service port --port and has no -p. The option
// lists are the (12): print-id, status, list, close show no run flags.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCliSync } from '../helpers/tunnel-env.ts';

const LOCATION = ['-c, --config', '-d, --data-dir'];
const EXPECTED: Record<string, string[]> = {
  'print-id': [...LOCATION, '--public-key', '--qr', '--color', '-h, --help'],
  status: [...LOCATION, '--json', '-w, --watch', '-h, --help'],
  top: [...LOCATION, '-h, --help'],
  invite: [...LOCATION, '--address', '--qr', '-h, --help'],
  mcp: [...LOCATION, '-l, --log-level', '--server-id', '--proxy', '-s, --secret', '-h, --help'],
  list: [...LOCATION, '--json', '-h, --help'],
  close: [...LOCATION, '--json', '-h, --help'],
  init: ['--host', '--port', '--ports', '--local-port', '--client-key', '--server-id', '--expires', '-o, --out', '--force', '--allow-broad', '-y, --yes', '-h, --help'],
  doctor: [...LOCATION, '-m, --mode', '-l, --log-level', '--server-id', '-L, --local', '-R, --remote', '-D, --dynamic', '--allow-any', '--json', '--timeout', '-h, --help'],
  '': [
    '--allow-any',
    ...LOCATION,
    '-m, --mode',
    '-l, --log-level',
    '--server-id',
    '-L, --local',
    '-R, --remote',
    '-D, --dynamic',
    '-p, --port',
    '--pipe',
    '--invite',
    '--proxy',
    '-s, --secret',
    '--bootstrap',
    '--metrics',
    '--service',
    '--protocol',
    '-h, --help',
    '-v, --version',
  ],
};

/** The option names of a help text's Options section, as written ("-c, --config"). */
function options(help: string): string[] {
  const section = help.split(/\n\n/).find((s) => s.startsWith('Options:'));
  if (!section) return [];
  return section
    .split('\n')
    .slice(1)
    .map((line) => /^ {2}((?:-\w, )?--?[\w-]+)/.exec(line)?.[1] ?? `?${line}`);
}

for (const [command, expected] of Object.entries(EXPECTED)) {
  test(`${command || '(run)'} --help: only its own options, each once, with an example`, () => {
    const r = runCliSync(command ? [command, '--help'] : ['--help']);
    assert.is(r.status, 0, r.output);
    const listed = options(r.stdout);
    assert.equal([...listed].sort(), [...expected].sort(), r.stdout);
    assert.is(new Set(listed).size, listed.length, 'no option twice');
    const examples = r.stdout.split(/\n\n/).find((s) => s.startsWith('Examples:'));
    assert.ok(examples, 'an Examples section');
    assert.is(examples!.split('\n').filter((l) => l.includes('$ toxtunnel')).length, 1, 'one example');
    assert.ok(examples!.includes(`$ toxtunnel ${command}`.trim()), examples);
    assert.not.match(r.stdout, /[ \t]$/m, 'no trailing spaces');
  });
}

test('init: --port is the service port; -p is refused with the fix, not taken as the relay port', () => {
  const help = runCliSync(['init', '--help']).stdout;
  assert.match(help, /--port <port> +the service's port on that host/);
  const r = runCliSync(['init', 'ssh', '-p', '2200', '--yes', '-o', '/nonexistent/never-written']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /init has no -p: the service port is --port \(e\.g\. init ssh --port 2200\)/);
});

test.run();
