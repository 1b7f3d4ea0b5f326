// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel doctor [-c FILE] [-m MODE] [-d DIR] [--server-id ID] [-L spec] [--json] [--timeout S]`:
 * checks a setup bottom up and stops at the first broken layer, saying how to fix it.
 *
 *   runtime, toxcore   Node >= 20 / Bun / Deno, crypto.getRandomValues, the wasm loads
 *   config             the same resolution as the run command (file, environment, flags)
 *   rules (server)     the rules file loads; over-broad, expired and unknown-friend entries
 *   data dir, identity permissions (dir not world-writable, tox_save.dat 0600), loads
 *   local ports        forwards / SOCKS / relay ports free — or the toxtunnel running with
 *                      this data dir (control socket), whose status the next layers use
 *   tox network        DHT connection within --timeout
 *   server online      (client) the server friend online, via UDP or a TCP relay
 *   tunnel …           (client) a TUNNEL_OPEN to every forward's target: ACK or the server's error
 *
 * A layer with a failed check ends the run; the later layers are reported as skipped. Exit
 * code: 0 without failures (warnings allowed), 1 with one, 2 for bad doctor flags.
 */
import type { Logger } from '../app/logger.ts';
import { silentLogger } from '../app/logger.ts';
import { createLogger } from '../cli/logging.ts';
import type { CliFlags, ResolvedConfig } from '../config/config.ts';
import {
  type CheckResult,
  checkConfig,
  checkDataDir,
  checkIdentity,
  checkLocalPorts,
  checkRules,
  checkRuntime,
  checkToxcore,
  fail,
  findRunningInstance,
  type IdentityInfo,
  inspectIdentity,
  type RunningInstance,
  skip,
} from './checks.ts';
import { type NetworkSession, runningSession, startOwnNode } from './network.ts';

export type { CheckResult, CheckStatus } from './checks.ts';

export interface DoctorFlags extends CliFlags {
  json?: boolean;
  /** Seconds each network wait may take (default 30). */
  timeout?: string | number;
}

export interface DoctorOptions {
  env?: Record<string, string | undefined>;
  /** Where usage errors go (default: stderr). */
  err?: (line: string) => void;
}

export const DEFAULT_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 3600;

/** Runs every check, prints them (text or --json) to `out`; resolves to the exit code. */
export async function runDoctor(flags: DoctorFlags, out: (line: string) => void, options: DoctorOptions = {}): Promise<number> {
  const err = options.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const timeoutText = flags.timeout === undefined ? String(DEFAULT_TIMEOUT_SECONDS) : String(flags.timeout).trim();
  const timeout = /^\d+(\.\d+)?$/.test(timeoutText) ? Number(timeoutText) : NaN;
  if (!(timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS)) {
    err(`toxtunnel: error: --timeout ${JSON.stringify(timeoutText)}: expected seconds, more than 0 and at most ${MAX_TIMEOUT_SECONDS} (see toxtunnel doctor --help)`);
    return 2;
  }
  const level = flags.logLevel;
  const log: Logger = level === 'debug' || level === 'trace' ? createLogger(level, { allToStderr: true }) : silentLogger;
  const checks = await diagnose(flags, { env: options.env ?? process.env, timeoutMs: Math.round(timeout * 1000), log });
  if (flags.json) out(JSON.stringify(checks, null, 2));
  else for (const line of formatChecks(checks)) out(line);
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

const SYMBOL = { pass: '✓', warn: '!', fail: '✗', skip: '-' } as const;

/** One line per check (✓ ! ✗ -), its fix indented below; a summary line last. */
export function formatChecks(checks: CheckResult[]): string[] {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${SYMBOL[c.status]} ${c.name}: ${clean(c.detail)}`);
    if (c.fix) c.fix.split('\n').forEach((line, i) => lines.push(`    ${i === 0 ? 'fix: ' : '     '}${clean(line)}`));
  }
  const count = (s: CheckResult['status']) => checks.filter((c) => c.status === s).length;
  const failed = checks.find((c) => c.status === 'fail');
  lines.push(
    failed
      ? `doctor: ${failed.name} failed (${count('warn')} warning(s), ${count('skip')} check(s) skipped)`
      : `doctor: no failure (${count('pass')} passed${count('warn') ? `, ${count('warn')} warning(s)` : ''}${count('skip') ? `, ${count('skip')} skipped` : ''})`,
  );
  return lines;
}

/** Control characters (from a file name, a peer's error text) are shown escaped, never sent to the terminal. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

interface DiagnoseOptions {
  env: Record<string, string | undefined>;
  timeoutMs: number;
  log: Logger;
}

/** The layers in order; the first one with a failed check ends the run (the rest: skip). */
export async function diagnose(flags: CliFlags, options: DiagnoseOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let failedAt: string | undefined;
  let config: ResolvedConfig | undefined;
  let identity: IdentityInfo | undefined;
  let running: RunningInstance | undefined;
  let blocked = false;
  let session: NetworkSession | undefined;

  /** Runs one layer unless an earlier one failed; `names` are what a skip reports. */
  const layer = async (names: string[], run: () => Promise<CheckResult[]> | CheckResult[]) => {
    if (failedAt !== undefined) {
      for (const name of names) results.push(skip(name, `not checked: ${failedAt} failed first`));
      return;
    }
    let checks: CheckResult[];
    try {
      checks = await run();
    } catch (error) {
      checks = [fail(names[0]!, `unexpected error: ${error instanceof Error ? error.message : String(error)}`, 'this is a bug in toxtunnel doctor; please report it with the output of -l debug')];
    }
    results.push(...checks);
    failedAt ??= checks.find((c) => c.status === 'fail')?.name;
  };

  try {
    await layer(['runtime', 'toxcore'], async () => {
      const runtime = checkRuntime();
      return runtime.status === 'fail' ? [runtime] : [runtime, await checkToxcore()];
    });
    await layer(['config'], () => {
      const { result, config: resolved } = checkConfig(flags, options.env);
      config = resolved;
      return [result];
    });
    // Until the config resolves, the mode is unknown: skip reports every layer there could be.
    const mode = config?.mode;
    if (mode !== 'client') {
      await layer(['rules'], async () => {
        identity ??= await inspectIdentity(config!.dataDir);
        return checkRules(config!, identity);
      });
    }
    await layer(['data dir', 'identity'], async () => {
      identity ??= await inspectIdentity(config!.dataDir);
      return [checkDataDir(identity), checkIdentity(identity, config!.mode)];
    });
    await layer(['local ports'], async () => {
      const found = await findRunningInstance(config!.dataDir, config!.mode);
      running = found.running;
      blocked = found.blocked === true;
      return [...(found.result ? [found.result] : []), ...(blocked ? [] : await checkLocalPorts(config!, running))];
    });
    await layer(['tox network'], async () => {
      if (blocked) return [skip('tox network', 'a toxtunnel we cannot ask runs with this data dir: not starting a second node with its identity')];
      const context = { config: config!, identity: identity!, timeoutMs: options.timeoutMs, log: options.log };
      if (running) session = runningSession(context, running);
      else {
        const started = await startOwnNode(context);
        if (started.result) return [started.result];
        session = started.session;
      }
      return [await session!.checkNetwork()];
    });
    if (mode !== 'server') {
      // Without a saved identity our node has a throwaway key: what the server says to it means nothing.
      const noIdentity = () => !running && identity !== undefined && identity.savedata === undefined;
      const why = `no identity yet in ${config?.dataDir ?? 'the data dir'}: the server would see a throwaway key, not the one this client will have (create it: toxtunnel print-id -d DIR)`;
      await layer(['server online'], async () => (session ? (noIdentity() ? [skip('server online', why)] : [await session.checkServer()]) : []));
      await layer(['tunnel'], async () => (session ? (noIdentity() ? [skip('tunnel', why)] : await session.checkTunnels()) : []));
    }
  } finally {
    await session?.close().catch(() => {});
  }
  return results;
}
