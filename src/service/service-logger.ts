// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The logger for `--service`: one plain line per message on stderr, no colours and no
 * timestamps (journald, launchd's log file or NSSM's add their own).
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM=dev:inode to the stream it gave us,
 * and we check that fd 2 is that stream), every line starts with a syslog priority prefix —
 * <3> error, <4> warning, <6> info, <7> debug — which journald strips and records as the
 * entry's priority (SyslogLevelPrefix=yes, the default), so `journalctl -p warning` works.
 * Anywhere else the prefix is left out.
 */
import { fstatSync } from 'node:fs';
import { formatWithOptions } from 'node:util';
import type { Logger } from '../app/logger.ts';
import type { LogLevel } from '../cli/logging.ts';

type Level = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
const LEVEL_RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const LABEL: Record<Level, string> = { error: 'error', warn: 'warning', info: 'info', debug: 'debug' };

export interface ServiceLoggerOptions {
  /** Where the lines go (default process.stderr). */
  write?: (text: string) => void;
  /** Prefix lines with <N> syslog priorities (default: when stderr is the journal). */
  journal?: boolean;
  env?: Record<string, string | undefined>;
}

/** True when fd 2 is the journal stream systemd announced in JOURNAL_STREAM ("dev:inode"). */
export function stderrIsJournal(env: Record<string, string | undefined> = process.env): boolean {
  const announced = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM?.trim() ?? '');
  if (!announced) return false;
  try {
    const stat = fstatSync(2, { bigint: true });
    return stat.dev === BigInt(announced[1]!) && stat.ino === BigInt(announced[2]!);
  } catch {
    return false;
  }
}

/** One message as the lines written: "label: text", each line prefixed in journal mode. */
export function formatServiceLine(level: Level, message: string, rest: unknown[], journal: boolean): string {
  const text = rest.length > 0 ? formatWithOptions({ colors: false }, message, ...rest) : message;
  const prefix = journal ? `<${PRIORITY[level]}>` : '';
  const lines = text.split(/\r?\n/);
  return lines.map((line, i) => `${prefix}${i === 0 ? `${LABEL[level]}: ` : '  '}${line}`).join('\n') + '\n';
}

export function createServiceLogger(level: LogLevel, options: ServiceLoggerOptions = {}): Logger {
  const journal = options.journal ?? stderrIsJournal(options.env ?? process.env);
  const write =
    options.write ??
    ((text: string) => {
      try {
        process.stderr.write(text);
      } catch {}
    });
  const threshold = RANK[level];
  const emit = (at: Level) => (message: string, ...rest: unknown[]) => {
    if (LEVEL_RANK[at] <= threshold) write(formatServiceLine(at, String(message), rest, journal));
  };
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug') };
}
