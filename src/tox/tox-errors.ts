// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * toxcore's error enums (tox.h, v0.2.22), by numeric value, turned into our stable codes
 * and messages. Only the enums the binding uses are here.
 */
import { ToxtunnelError } from '../errors.ts';

/** Tox_Err_New, in tox.h order. */
const NEW_ERRORS = [
  'OK', 'NULL', 'MALLOC', 'PORT_ALLOC', 'PROXY_BAD_TYPE', 'PROXY_BAD_HOST', 'PROXY_BAD_PORT',
  'PROXY_NOT_FOUND', 'LOAD_ENCRYPTED', 'LOAD_BAD_FORMAT',
] as const;

export function toxNewError(code: number, savedataLength: number): ToxtunnelError {
  const name = NEW_ERRORS[code] ?? `UNKNOWN_${code}`;
  switch (name) {
    case 'LOAD_BAD_FORMAT':
      return new ToxtunnelError(
        'TOX_SAVEDATA_CORRUPT',
        `the Tox save data (${savedataLength} bytes) is corrupt or not a toxcore save: refusing to start with a different identity; restore tox_save.dat from a backup or move it away to create a new identity`,
        { savedataLength },
      );
    case 'LOAD_ENCRYPTED':
      return new ToxtunnelError(
        'TOX_SAVEDATA_ENCRYPTED',
        'the Tox save data is encrypted (toxencryptsave); toxtunnel reads plain toxcore save data only',
      );
    case 'PORT_ALLOC':
      return new ToxtunnelError('TOX_PORT_IN_USE', 'toxcore could not bind its UDP or TCP port');
    case 'MALLOC':
      return new ToxtunnelError('TOX_OUT_OF_MEMORY', 'toxcore ran out of memory creating the node');
    default:
      return new ToxtunnelError('TOX_NEW_FAILED', `toxcore could not create the node (Tox_Err_New ${name})`, { toxError: name });
  }
}

/** Tox_Err_Friend_Add, in tox.h order. */
const FRIEND_ADD_ERRORS = [
  'OK', 'NULL', 'TOO_LONG', 'NO_MESSAGE', 'OWN_KEY', 'ALREADY_SENT', 'BAD_CHECKSUM', 'SET_NEW_NOSPAM', 'MALLOC',
] as const;

const FRIEND_ADD_TEXT: Record<string, string> = {
  TOO_LONG: 'the friend request message is too long (at most 1016 bytes)',
  NO_MESSAGE: 'a friend request needs a message',
  OWN_KEY: 'that is our own Tox ID',
  ALREADY_SENT: 'this friend was already added',
  BAD_CHECKSUM: 'the Tox ID checksum is wrong',
  SET_NEW_NOSPAM: 'this friend is already added with a different nospam',
  MALLOC: 'out of memory adding the friend',
};

export function friendAddError(code: number): ToxtunnelError {
  const name = FRIEND_ADD_ERRORS[code] ?? `UNKNOWN_${code}`;
  return new ToxtunnelError(`TOX_FRIEND_ADD_${name}`, `cannot add friend: ${FRIEND_ADD_TEXT[name] ?? name}`, { toxError: name });
}

/** Tox_Err_Friend_Custom_Packet, in tox.h order. */
export const CUSTOM_PACKET_ERRORS = [
  'OK', 'NULL', 'FRIEND_NOT_FOUND', 'FRIEND_NOT_CONNECTED', 'INVALID', 'EMPTY', 'TOO_LONG', 'SENDQ',
] as const;
export type CustomPacketError = Exclude<(typeof CUSTOM_PACKET_ERRORS)[number], 'OK' | 'NULL'>;

/** Tox_Err_Bootstrap, in tox.h order. */
const BOOTSTRAP_ERRORS = ['OK', 'NULL', 'BAD_HOST', 'BAD_PORT'] as const;

export function bootstrapError(code: number, what: string, host: string, port: number): ToxtunnelError {
  const name = BOOTSTRAP_ERRORS[code] ?? `UNKNOWN_${code}`;
  const text = name === 'BAD_PORT' ? `bad port ${port} (must be 1..65535)` : name === 'BAD_HOST' ? `cannot use host ${JSON.stringify(host)}` : name;
  return new ToxtunnelError(`TOX_${what}_${name}`, `${what.toLowerCase().replace('_', ' ')} ${host}:${port} failed: ${text}`, { host, port });
}
