// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Reloads the rules file without a restart: on SIGHUP, and when the file changes (watched
 * through its directory, so editors that save by rename are seen too). A good file replaces
 * the rules, and the server applies them to what is already open (revoked friends lose their
 * tunnels within a second). A file that fails to parse keeps the rules in force, and the error
 * is logged at every reload and shown by `status` until it is fixed. A deleted file fails
 * closed: nobody is admitted until it is back (logged at error).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RuleSet } from '../config/rules.ts';
import { isToxtunnelError } from '../errors.ts';
import type { Logger } from './logger.ts';

/** Changes closer together than this are one reload (editors write in several steps). */
const DEBOUNCE_MS = 150;

export class RulesWatcher {
  private watcher: FSWatcher | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onHangup = () => this.reload('SIGHUP');

  constructor(
    private readonly file: string,
    private readonly load: (file: string) => RuleSet,
    private readonly target: {
      /** New rules to enforce; `problem` when they are the deny-all stand-in for a missing file. */
      apply: (rules: RuleSet, problem?: string) => void;
      /** The file failed to load and the old rules stay (undefined: fixed). */
      problem: (problem: string | undefined) => void;
    },
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
    let rules: RuleSet;
    try {
      rules = this.load(this.file);
    } catch (error) {
      if (isToxtunnelError(error, 'RULES_UNREADABLE') && (error.details as { errno?: string }).errno === 'ENOENT') {
        const problem = `the rules file ${this.file} is gone: nobody is admitted until it is back`;
        this.log.error(`${problem} (${why})`);
        this.target.apply(new RuleSet([]), problem);
        return;
      }
      const problem = `the rules file ${this.file} is not valid, the previous rules stay in force: ${(error as Error).message}`;
      this.log.error(`rules not reloaded (${why}): ${problem}`);
      this.target.problem(problem);
      return;
    }
    this.log.info(`rules reloaded (${why}): ${rules.rules.length} rule(s) from ${this.file}`);
    this.target.apply(rules);
  }
}
