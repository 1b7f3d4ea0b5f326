// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The foreground logger: one line per message, each starting with the local time to the
 * millisecond and the level, e.g.
 *
 *   2026-11-30 14:07:30.123 INFO  Tox ID: 1A2B…
 *   2026-11-30 14:07:31.456 WARN  Tox network: offline
 *
 * info and debug go to stdout, warnings and errors to stderr (in pipe mode stdout carries the
 * tunnel, so everything goes to stderr). Colour only for the level word, only on a terminal,
 * never with NO_COLOR. No blank lines, no boxes: a log file has one line per message (a
 * message of several lines gets its continuation lines indented). `--service` uses
 * ../service/service-logger.ts instead (journald adds its own timestamps).
 */
import { formatWithOptions } from 'node:util';
import type { Logger } from '../app/logger.ts';
import type { LogLevel } from '../config/config-file.ts';

export type { LogLevel };
type Level = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
const LABEL: Record<Level, string> = { error: 'ERROR', warn: 'WARN ', info: 'INFO ', debug: 'DEBUG' };
const COLOUR: Record<Level, string> = { error: '\u001b[31m', warn: '\u001b[33m', info: '\u001b[36m', debug: '\u001b[90m' };

const two = (n: number) => String(n).padStart(2, '0');

/** Local time, "YYYY-MM-DD HH:MM:SS.mmm". */
export function localTimestamp(date: Date): string {
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** One message as written: timestamp, level, text; further lines of the text indented. */
export function formatLogLine(level: Level, message: string, rest: unknown[], date: Date, colour: boolean): string {
  const text = rest.length > 0 ? formatWithOptions({ colors: false }, message, ...rest) : message;
  const label = colour ? `${COLOUR[level]}${LABEL[level]}\u001b[0m` : LABEL[level];
  const lines = text.split(/\r?\n/).filter((line, i, all) => line !== '' || (i > 0 && i < all.length - 1));
  return `${localTimestamp(date)} ${label} ${lines.join('\n    ')}\n`;
}

export interface LoggerOptions {
  allToStderr: boolean;
  /** Where lines go (tests): (level, text). */
  write?: (level: Level, text: string) => void;
  now?: () => Date;
}

export function createLogger(level: LogLevel, options: LoggerOptions): Logger {
  const colour = !process.env.NO_COLOR && process.stderr.isTTY === true;
  const write =
    options.write ??
    ((l: Level, text: string) => {
      const stream = options.allToStderr || l === 'error' || l === 'warn' ? process.stderr : process.stdout;
      try {
        stream.write(text);
      } catch {
        // a closed stream: the line is lost, the program goes on
      }
    });
  const now = options.now ?? (() => new Date());
  const log =
    (l: Level) =>
    (message: string, ...rest: unknown[]) => {
      if (RANK[l] <= RANK[level]) write(l, formatLogLine(l, message, rest, now(), colour));
    };
  return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') };
}
