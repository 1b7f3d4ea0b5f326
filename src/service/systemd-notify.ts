// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * systemd readiness, status and watchdog (the sd_notify protocol) without native code.
 *
 * The protocol: when systemd starts a Type=notify unit it sets NOTIFY_SOCKET to the path of a
 * Unix *datagram* socket (or to an abstract-namespace name when it starts with '@'); the
 * service sends newline-separated KEY=VALUE datagrams to it: READY=1 once it is up,
 * STATUS=… for `systemctl status`, STOPPING=1 when it shuts down, and WATCHDOG=1 at least
 * every WATCHDOG_USEC µs when the unit has WatchdogSec= (only if WATCHDOG_PID is unset or is
 * our pid). systemd identifies the sender by the kernel's SCM_CREDENTIALS pid.
 *
 * Node, Bun and Deno cannot send a Unix datagram: node:dgram is UDP-only, node:net is
 * stream-only (connect() to a SOCK_DGRAM socket fails with EPROTOTYPE), Bun.udpSocket is
 * UDP-only, and Deno's unix datagrams are behind --unstable-net. The choices were:
 *
 *   (a) spawn the `systemd-notify` binary for each message — CHOSEN. It ships in the
 *       `systemd` package, so it is present wherever systemd is the service manager (the only
 *       place NOTIFY_SOCKET is set by systemd), it handles path and '@abstract' sockets, and
 *       node:child_process works the same on Node, Bun and Deno (Deno: --allow-run).
 *       systemd 252 (Debian 12) details that matter:
 *         - it sends the message with SCM_CREDENTIALS pid = --pid=PID, or its parent (us)
 *           without --pid. Faking a pid needs CAP_SYS_ADMIN: as root the message is
 *           attributed to toxtunnel itself (NotifyAccess=main would do); as an unprivileged
 *           or DynamicUser service the kernel refuses, sd_pid_notify() retries with the
 *           helper's own pid, and the unit needs NotifyAccess=all (the shipped units say so).
 *         - --pid=PID also adds MAINPID=PID (we send it with READY=1).
 *         - unless --no-block it then waits (≤ 5 s) on a BARRIER=1 message until the
 *           manager has processed the datagram, so the helper is still alive when systemd
 *           looks up its cgroup: no "Cannot find unit for notify message" race.
 *         - it has --ready and --status= but no --stopping (v253+), so STOPPING=1 and
 *           WATCHDOG=1 are passed as VARIABLE=VALUE arguments, which every version takes.
 *       Trade-offs: one short-lived process per message (a watchdog ping every
 *       WatchdogSec/2, 15 s with the shipped units: negligible); NotifyAccess=all when not
 *       root; nothing works where NOTIFY_SOCKET is set but systemd-notify is absent (some
 *       containers): that is reported once as a warning.
 *   (b) in-process FFI (bun:ffi, Deno.dlopen → libc socket()/sendto()): no helper and no
 *       NotifyAccess=all, but Node 20 has no FFI at all, Deno needs --allow-ffi, and the units
 *       would still need NotifyAccess=all for Node. Rejected: two extra code paths for no gain
 *       in the units we ship.
 *   (c) python3 / socat as the helper: the same child-process trade-off as (a), without the
 *       barrier (the sender may be gone before systemd attributes the datagram) and not
 *       installed everywhere systemd is. Rejected.
 *
 * Messages go out one helper at a time, in order (READY before WATCHDOG before STOPPING). A
 * watchdog ping while one is already waiting is dropped (one is enough), and a newer STATUS
 * replaces a waiting one, so a slow manager cannot pile up processes. The watchdog timer runs
 * on the event loop on purpose: if the loop hangs, the pings stop and systemd restarts us.
 *
 * Nothing here throws into the application: the first failure (no systemd-notify, a socket
 * that is not there, a refused message) is logged once as a warning, later ones at debug.
 * With NOTIFY_SOCKET unset (not under systemd, macOS, Windows) the notifier does nothing.
 */
import { spawn } from 'node:child_process';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import type { Logger } from '../app/logger.ts';

export interface ServiceNotifier {
  /** True when NOTIFY_SOCKET is set and messages are being sent. */
  readonly active: boolean;
  /** The watchdog ping interval in ms (WATCHDOG_USEC / 2), or undefined when there is none. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1, STATUS=status, MAINPID=our pid: the instance is up. */
  ready(status: string): void;
  /** STATUS=text (shown by `systemctl status`). */
  status(text: string): void;
  /**
   * STOPPING=1 (and STATUS=text): we are shutting down. Stops the watchdog. The promise
   * resolves once every message so far has been handed over (or failed), bounded by a few
   * seconds, so the caller may await it before process.exit(); it never rejects.
   */
  stopping(text?: string): Promise<void>;
  /** Stops the watchdog and sends nothing more (a message already on its way still goes). */
  close(): void;
  /** Resolves when every message queued so far has been handled, or after timeoutMs. */
  flush(timeoutMs?: number): Promise<void>;
}

export interface ServiceNotifierOptions {
  /** The helper to run (default "systemd-notify", looked up on PATH). */
  command?: string;
  /** Our pid, for MAINPID= and the WATCHDOG_PID check (default process.pid). */
  pid?: number;
  /** A helper still running after this long is killed (default 10 s; its barrier waits 5 s). */
  helperTimeoutMs?: number;
}

type Env = Record<string, string | undefined>;

/** The longest STATUS= text we send (systemd shows one line; longer is noise). */
const MAX_STATUS_CHARS = 512;
/** Bound on queued messages; only reached if the manager stalls for a long time. */
const MAX_QUEUE = 16;
const STOPPING_FLUSH_MS = 3000;

const stderrLogger: Pick<Logger, 'warn' | 'debug'> = {
  warn: (message) => {
    try {
      process.stderr.write(`toxtunnel: warning: ${message}\n`);
    } catch {}
  },
  debug: () => {},
};

/** A notifier that does nothing (NOTIFY_SOCKET unset). */
export const noopNotifier: ServiceNotifier = Object.freeze({
  active: false,
  watchdogIntervalMs: undefined,
  ready() {},
  status() {},
  stopping: () => Promise.resolve(),
  close() {},
  flush: () => Promise.resolve(),
});

/**
 * The watchdog interval for this process in ms: WATCHDOG_USEC / 2 when WATCHDOG_USEC is a
 * positive integer and WATCHDOG_PID is unset, empty or our pid; otherwise undefined.
 */
export function watchdogIntervalMs(env: Env, pid: number = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC?.trim();
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  const watchdogPid = env.WATCHDOG_PID?.trim();
  if (watchdogPid && Number(watchdogPid) !== pid) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** Status text as one line of bounded length (a newline would end the KEY=VALUE pair). */
export function statusLine(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').replace(/[\0]/g, '').trim();
  return line.length > MAX_STATUS_CHARS ? `${line.slice(0, MAX_STATUS_CHARS - 1)}…` : line;
}

interface Message {
  kind: 'ready' | 'status' | 'watchdog' | 'stopping';
  args: string[];
}

/**
 * The sd_notify client for this process: a no-op when env.NOTIFY_SOCKET is unset. The
 * watchdog (if WATCHDOG_USEC applies to us) starts right away, so create the notifier early,
 * before the slow part of start-up: systemd counts the watchdog from the moment it starts us.
 */
export function createServiceNotifier(
  env: Env = process.env,
  log?: Pick<Logger, 'warn' | 'debug'>,
  options: ServiceNotifierOptions = {},
): ServiceNotifier {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return noopNotifier;

  const logger = log ?? stderrLogger;
  const command = options.command ?? 'systemd-notify';
  const pid = options.pid ?? process.pid;
  const helperTimeoutMs = options.helperTimeoutMs ?? 10_000;
  const intervalMs = watchdogIntervalMs(env, pid);

  const queue: Message[] = [];
  let busy = false;
  let closed = false;
  /** No helper can run (not installed, not allowed): stop trying. */
  let disabled = false;
  let warned = false;
  let idleWaiters: Array<() => void> = [];
  let helperEnv: Env | undefined;

  const report = (message: string) => {
    try {
      if (!warned) {
        warned = true;
        logger.warn(`systemd notification failed (${message}); systemd readiness/watchdog may not work`);
      } else logger.debug(`systemd notification failed: ${message}`);
    } catch {}
  };

  const environment = (): Env => {
    // Only the variables the helper needs; the rest of ours (secrets included) stays here.
    if (!helperEnv) {
      helperEnv = { NOTIFY_SOCKET: socket };
      for (const name of ['PATH', 'LANG', 'LC_ALL', 'SYSTEMD_LOG_LEVEL']) {
        const value = env[name] ?? safeProcessEnv(name);
        if (value !== undefined) helperEnv[name] = value;
      }
      if (helperEnv.PATH === undefined) helperEnv.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    }
    return helperEnv;
  };

  const settleIdle = () => {
    if (busy || queue.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const enqueue = (message: Message) => {
    if (closed || disabled) return;
    if (message.kind === 'watchdog' && queue.some((m) => m.kind === 'watchdog')) return;
    if (message.kind === 'status') {
      const waiting = queue.findIndex((m) => m.kind === 'status');
      if (waiting >= 0) queue.splice(waiting, 1);
    }
    if (queue.length >= MAX_QUEUE) {
      // Keep what matters (ready/stopping); drop the oldest ping or status.
      const droppable = queue.findIndex((m) => m.kind === 'watchdog' || m.kind === 'status');
      if (droppable < 0) return;
      queue.splice(droppable, 1);
    }
    queue.push(message);
    pump();
  };

  const pump = () => {
    if (busy) return;
    const message = queue.shift();
    if (!message) return settleIdle();
    if (disabled) {
      queue.length = 0;
      return settleIdle();
    }
    busy = true;
    send(message).then(() => {
      busy = false;
      pump();
    });
  };

  const send = (message: Message) =>
    new Promise<void>((resolve) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        resolve();
      };
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(command, message.args, { stdio: ['ignore', 'ignore', 'pipe'], env: environment(), windowsHide: true });
      } catch (error) {
        disabled = true;
        report(`cannot run ${command}: ${errorText(error)}`);
        return finish();
      }
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (stderr.length < 4096) stderr += chunk;
      });
      child.stderr?.on('error', () => {});
      timer = setTimeout(() => {
        try {
          child.kill('SIGKILL');
        } catch {}
      }, helperTimeoutMs);
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'EPERM' || /NotFound|PermissionDenied/.test(error.name)) {
          disabled = true;
          report(
            error.code === 'ENOENT' || /NotFound/.test(error.name)
              ? `${command} not found: install the systemd package, or run without NOTIFY_SOCKET (Type=simple)`
              : `cannot run ${command}: ${errorText(error)}`,
          );
        } else report(`${message.kind}: ${errorText(error)}`);
        finish();
      });
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        if (done) return;
        const detail = firstLine(stderr);
        if (code === 0) logDebug(`${message.kind} sent`);
        else if (code !== null && /barrier/i.test(detail)) {
          // The datagram went out; only the manager's acknowledgement did not come back.
          logDebug(`${message.kind} sent, not acknowledged: ${detail}`);
        } else {
          const how = signal ? `was killed (${signal})` : `exited with ${code}`;
          report(`${message.kind} to ${socket}: ${command} ${how}${detail ? `: ${detail}` : ''}`);
        }
        finish();
      });
    });

  const logDebug = (text: string) => {
    try {
      logger.debug(`systemd: ${text}`);
    } catch {}
  };

  let watchdog: ReturnType<typeof setInterval> | undefined;
  if (intervalMs !== undefined) {
    watchdog = setInterval(() => enqueue({ kind: 'watchdog', args: ['WATCHDOG=1'] }), intervalMs);
    watchdog.unref?.();
  }
  const stopWatchdog = () => {
    if (watchdog) clearInterval(watchdog);
    watchdog = undefined;
  };

  const flush = (timeoutMs = STOPPING_FLUSH_MS) =>
    new Promise<void>((resolve) => {
      if (!busy && queue.length === 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref?.();
      idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  return {
    active: true,
    watchdogIntervalMs: intervalMs,
    ready(status) {
      const text = statusLine(status);
      enqueue({ kind: 'ready', args: ['--ready', `--pid=${pid}`, ...(text ? [`--status=${text}`] : [])] });
    },
    status(text) {
      const line = statusLine(text);
      if (line) enqueue({ kind: 'status', args: [`--status=${line}`] });
    },
    stopping(text = 'stopping') {
      stopWatchdog();
      const line = statusLine(text);
      enqueue({ kind: 'stopping', args: [...(line ? [`--status=${line}`] : []), 'STOPPING=1'] });
      return flush(STOPPING_FLUSH_MS);
    },
    close() {
      stopWatchdog();
      closed = true;
      queue.length = 0;
      settleIdle();
    },
    flush,
  };
}

function safeProcessEnv(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}
