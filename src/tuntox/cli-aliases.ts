// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * tuntox's command-line flags that work as aliases where they do not clash with ours
 * (TUNTOX.md §9), so a tuntox command line keeps working:
 *
 *   tuntox -i ID -L 2222:127.0.0.1:22      ->  toxtunnel -i ID -L 2222:127.0.0.1:22
 *   tuntox -C /etc/tuntox -f rules -s S     ->  toxtunnel -C /etc/tuntox -f rules -s S   (server)
 *
 * -L, -D and -s mean the same in both. Not aliased, because ours differ: -d (tuntox: debug;
 * ours: data dir), -p (tuntox: ping; ours: relay port), -t/-u/-b/-q/-S/-z/-F/-U/-I/-V/-h.
 * As tuntox does, a command line with none of -L/-W/-D is a server and one with any is a
 * client — when -m and the config file say nothing.
 */

export interface TuntoxAlias {
  flag: string;
  meaning: string;
}

/** For cac (declared, so they are accepted) and the help's "tuntox compatibility" section. */
export const TUNTOX_ALIASES: TuntoxAlias[] = [
  { flag: '-i <toxid>', meaning: 'client: the server\'s Tox ID (= --server-id); server: accept only this friend (whitelist, repeatable)' },
  { flag: '-W <host:port>', meaning: 'client: pipe stdin/stdout to host:port (= --pipe)' },
  { flag: '-C <dir>', meaning: 'data directory (= -d); a tuntox identity there (tox_save) is used as it is' },
  { flag: '-f <file>', meaning: 'server: rules file, tuntox\'s host:port lines or our YAML' },
];

export const TUNTOX_HELP = [
  'tuntox compatibility (docs/tuntox.md):',
  ...TUNTOX_ALIASES.map((a) => `  ${a.flag.padEnd(16)} ${a.meaning}`),
  '  -L, -D, -s       as in tuntox (but -L binds 127.0.0.1, not every interface)',
  '  TUNTOX_SHARED_SECRET is read when -s and TOXTUNNEL_SHARED_SECRET are absent.',
  '  The server accepts tuntox clients on the same Tox ID; the client detects a tuntox',
  '  server by itself (--protocol auto|toxtunnel|tuntox, or client.protocol in YAML).',
].join('\n');

/** The run flags tuntox's aliases give; `values(names)` returns every raw value of those flags. */
export function tuntoxFlags(values: (names: string[]) => string[], has: (names: string[]) => boolean) {
  const tuntoxStyle = has(['-i', '-W', '-C', '-f']);
  const clientFlags = has(['-L', '--local', '-D', '--dynamic', '-W', '--pipe', '-R', '--remote']);
  return {
    tuntoxIds: values(['-i']),
    pipe: values(['-W']).at(-1),
    dataDir: values(['-C']).at(-1),
    rulesFile: values(['-f']).at(-1),
    impliedMode: tuntoxStyle ? (clientFlags ? ('client' as const) : ('server' as const)) : undefined,
  };
}
