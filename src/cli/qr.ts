// SPDX-License-Identifier: GPL-3.0-or-later
/** A Tox ID as a QR code for the terminal (two modules per character cell). */
import { renderUnicodeCompact } from 'uqr';

export function toxIdQr(toxId: string, color: boolean): string {
  // Upper-case hex fits QR's alphanumeric mode; "tox:" is the URI scheme Tox clients scan.
  return renderQr(`TOX:${toxId.toUpperCase()}`, color);
}

/** Any text as a terminal QR code. */
export function renderQr(text: string, color: boolean): string {
  const qr = renderUnicodeCompact(text, { border: 2, ecc: 'M' });
  if (!color) return qr;
  // White on black so the code scans on dark terminal themes as well.
  return qr
    .split('\n')
    .map((line) => `\x1b[97;40m${line}\x1b[0m`)
    .join('\n');
}
