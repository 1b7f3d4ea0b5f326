// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * consola, set up for a command-line run. Levels follow the config's logging.level
 * (error, warn, info, debug, trace). In pipe mode stdout carries the tunnel, so every log
 * line goes to stderr.
 */
import { createConsola } from 'consola';
import type { Logger } from '../app/logger.ts';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const CONSOLA_LEVEL: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

export function createLogger(level: LogLevel, options: { allToStderr: boolean }): Logger {
  const consola = createConsola({
    level: CONSOLA_LEVEL[level],
    stdout: options.allToStderr ? process.stderr : process.stdout,
    stderr: process.stderr,
    formatOptions: { date: true, colors: !process.env.NO_COLOR && process.stderr.isTTY === true },
  });
  return {
    error: (m, ...r) => consola.error(m, ...r),
    warn: (m, ...r) => consola.warn(m, ...r),
    info: (m, ...r) => consola.info(m, ...r),
    debug: (m, ...r) => consola.debug(m, ...r),
  };
}
