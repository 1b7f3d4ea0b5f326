// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Reloads the rules file without a restart: on SIGHUP, and when the file changes (watched
 * through its directory, so editors that save by rename are seen too). A file that fails to
 * load keeps the rules in force and logs why; a good one replaces them, and the server then
 * applies them to what is already open (revoked friends lose their tunnels within a second).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { AccessPolicy } from './server.ts';
import type { Logger } from './logger.ts';

/** Changes closer together than this are one reload (editors write in several steps). */
const DEBOUNCE_MS = 150;

export class RulesWatcher {
  private watcher: FSWatcher | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onHangup = () => this.reload('SIGHUP');

  constructor(
    private readonly file: string,
    private readonly load: (file: string) => AccessPolicy & { readonly rules: readonly unknown[] },
    private readonly apply: (rules: AccessPolicy) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.toString() === name) this.schedule();
      });
      this.watcher.on('error', (error) => this.log.warn(`cannot watch ${this.file} any more (${error.message}); reload with SIGHUP`));
    } catch (error) {
      this.log.warn(`cannot watch ${this.file} (${(error as Error).message}); reload with SIGHUP`);
    }
    if (process.platform !== 'win32') process.on('SIGHUP', this.onHangup);
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    process.off('SIGHUP', this.onHangup);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload('file changed'), DEBOUNCE_MS);
  }

  reload(why: string): void {
    let rules: AccessPolicy & { readonly rules: readonly unknown[] };
    try {
      rules = this.load(this.file);
    } catch (error) {
      this.log.error(`rules not reloaded (${why}), keeping the previous rules: ${(error as Error).message}`);
      return;
    }
    this.log.info(`rules reloaded (${why}): ${rules.rules.length} rule(s) from ${this.file}`);
    this.apply(rules);
  }
}
