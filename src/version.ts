// SPDX-License-Identifier: GPL-3.0-or-later
/** The version the bundle was built as (build.sh defines __TOXTUNNEL_VERSION__), else "dev". */
declare const __TOXTUNNEL_VERSION__: string | undefined;
export const VERSION = typeof __TOXTUNNEL_VERSION__ === 'string' ? __TOXTUNNEL_VERSION__ : 'dev';
