// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel init <scenario>`: writes server.yaml, client.yaml and rules.yaml, ready to use
 * (least privilege, see scenarios.ts), and prints the next steps.
 *
 *   toxtunnel init <scenario> [--host H] [--port P] [--local-port L] [--ports a,b]
 *     [--client-key K] [--server-id ID] [--expires 8h|ISO] [--out DIR] [--force]
 *     [--allow-broad] [--yes]
 *
 * Interactive when stdin and stdout are terminals (and --yes is absent): asks what the flags
 * did not say. Never overwrites a file without --force. rules.yaml gets mode 0600, the others
 * 0644; the output directory is created if missing.
 *
 * Exit codes: 0 written; 2 bad usage (INIT_INVALID, INIT_BROAD_REFUSED, INIT_EXISTS);
 * 1 nothing written for another reason (INIT_ABORTED, INIT_WRITE_FAILED).
 */
import { chmodSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { exitCodeFor, isToxtunnelError, ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';
import { isoSeconds } from './render.ts';
import { askInitOptions, type Asker, createAsker } from './prompt.ts';
import { type InitOptions, type InitPlan, planInit, SCENARIOS } from './scenarios.ts';

export interface InitIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** stdin and stdout are terminals: ask questions. */
  isTTY: boolean;
}

export type InitFlags = Record<string, string | boolean | number | string[] | undefined>;

const kebab = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function stringFlag(flags: InitFlags, key: string): string | undefined {
  let value = flags[key] ?? flags[kebab(key).slice(2)];
  if (Array.isArray(value)) value = value.at(-1);
  if (value === undefined || value === false) return undefined;
  if (value === true) throw new ToxtunnelError('INIT_INVALID', `${kebab(key)} needs a value`, { option: kebab(key) });
  return String(value);
}

function booleanFlag(flags: InitFlags, key: string): boolean {
  const value = flags[key] ?? flags[kebab(key).slice(2)];
  return value === true || (typeof value === 'string' && /^(1|true|yes)$/i.test(value));
}

/** Flags → options for planInit (validation happens there). */
export function initOptionsFromFlags(args: string[], flags: InitFlags): Partial<InitOptions> {
  if (args.length > 1) throw new ToxtunnelError('INIT_INVALID', `init takes one scenario, got ${args.length}: ${args.join(' ')}`);
  const options: Partial<InitOptions> = {};
  if (args[0] !== undefined) options.scenario = String(args[0]);
  const set = (key: keyof InitOptions, flag: string) => {
    const value = stringFlag(flags, flag);
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  };
  set('host', 'host');
  set('port', 'port');
  set('ports', 'ports');
  set('localPort', 'localPort');
  set('clientKey', 'clientKey');
  set('serverId', 'serverId');
  set('expires', 'expires');
  set('outDir', 'out');
  if (booleanFlag(flags, 'allowBroad')) options.allowBroad = true;
  return options;
}


function describeAccess(plan: InitPlan): string {
  const m = plan.model;
  const ports = m.ports === 'all' ? 'EVERY port' : `port${m.ports.length > 1 ? 's' : ''} ${m.ports.map((p) => `${p} (${m.portLabels[p]})`).join(', ')}`;
  const who = m.clientKey ? `the client ${m.clientKey.slice(0, 8)}…` : 'the client (key still to fill in)';
  return `rules.yaml: ${who} may reach ${m.host} on ${ports}, nothing else${m.expires ? `, until ${isoSeconds(m.expires)}` : ''}.`;
}

/** Refuses to overwrite: INIT_EXISTS naming the first file that exists. */
function checkFree(dir: string, plan: InitPlan, force: boolean): void {
  if (force) return;
  for (const file of plan.files) {
    const path = join(dir, file.name);
    let exists = true;
    try {
      lstatSync(path);
    } catch {
      exists = false;
    }
    if (exists) throw new ToxtunnelError('INIT_EXISTS', `${path} already exists: not overwriting it (use --force to replace it, or --out another directory)`, { file: path });
  }
}

function writeFiles(dir: string, plan: InitPlan, force: boolean): string[] {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new ToxtunnelError('INIT_WRITE_FAILED', `cannot create the directory ${dir}: ${osErrorText(error)}`, { file: dir });
  }
  const written: string[] = [];
  for (const file of plan.files) {
    const path = join(dir, file.name);
    try {
      // --force: replace the file itself (a fresh file gets our mode; a symlink is not followed).
      if (force) rmSync(path, { force: true });
      writeFileSync(path, file.text, { mode: file.mode, flag: 'wx' });
      chmodSync(path, file.mode); // the umask may have taken bits away
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new ToxtunnelError('INIT_EXISTS', `${path} already exists: not overwriting it (use --force to replace it)`, { file: path });
      throw new ToxtunnelError('INIT_WRITE_FAILED', `cannot write ${path}: ${osErrorText(error)}`, { file: path });
    }
    written.push(`wrote ${path} (mode ${file.mode.toString(8).padStart(4, '0')})`);
  }
  return written;
}

/**
 * Runs `toxtunnel init`. `args`: the positional arguments (the scenario); `flags`: as from
 * initFlagsFromArgv (or cac, camelCase). Returns the exit code; errors are printed on stderr.
 */
export async function runInit(args: string[], flags: InitFlags, io: InitIo): Promise<number> {
  const say = (text: string) => void io.stdout.write(`${text}\n`);
  const warn = (text: string) => void io.stderr.write(`toxtunnel: warning: ${text}\n`);
  let asker: Asker | undefined;
  try {
    let options = initOptionsFromFlags(args, flags);
    const force = booleanFlag(flags, 'force');
    const interactive = io.isTTY && !booleanFlag(flags, 'yes');
    if (interactive) {
      asker = createAsker(io.stdin, io.stdout);
      options = await askInitOptions(asker, options, say);
    } else if (!options.scenario) {
      throw new ToxtunnelError('INIT_INVALID', `which scenario? toxtunnel init <scenario>, one of: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    }
    const complete = { ...options, scenario: options.scenario! };
    let plan: InitPlan;
    try {
      plan = planInit(complete);
    } catch (error) {
      if (!asker || !isToxtunnelError(error, 'INIT_BROAD_REFUSED') || error.details.always) throw error;
      for (const broad of error.details.broad as string[]) warn(broad);
      if (!(await asker.confirm('Write this broad rule anyway?', false))) {
        throw new ToxtunnelError('INIT_BROAD_REFUSED', 'broad rule not confirmed: nothing written (see the narrower alternative above)');
      }
      plan = planInit({ ...complete, allowBroad: true });
    }
    const dir = resolvePath(complete.outDir ?? '.');
    checkFree(dir, plan, force);
    if (asker) {
      say(describeAccess(plan));
      if (!(await asker.confirm(`Write server.yaml, client.yaml and rules.yaml to ${dir}?`, true))) throw new ToxtunnelError('INIT_ABORTED', 'not confirmed: nothing written');
      asker.close();
    }
    for (const w of plan.warnings) warn(w);
    for (const line of writeFiles(dir, plan, force)) say(line);
    say(describeAccess(plan));
    say('');
    say('Next steps:');
    plan.nextSteps.forEach((step, i) => say(`  ${i + 1}. ${step}`));
    return 0;
  } catch (error) {
    if (!isToxtunnelError(error)) throw error;
    io.stderr.write(`toxtunnel: error: ${error.message}\n`);
    return exitCodeFor(error.code);
  } finally {
    asker?.close();
  }
}
