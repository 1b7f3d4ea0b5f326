// SPDX-License-Identifier: GPL-3.0-or-later
/** The logging interface the application layer uses (../cli/logging.ts and ../service/service-logger.ts implement it). */
export interface Logger {
  error(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  debug(message: string, ...rest: unknown[]): void;
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
