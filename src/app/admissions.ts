// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Which shared secret admitted each friend, so that changing the secret removes the friends
 * that only the old one let in. Kept in `data_dir/admissions.json` (0600, written atomically
 * like tox_save.dat): a random salt and, per friend public key, HMAC-SHA256(salt, secret).
 * The secret itself is never stored; the file lives beside the secret key, which is worth more.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from './identity.ts';

const FILE_NAME = 'admissions.json';

interface LedgerFile {
  salt: string;
  friends: Record<string, string>;
}

export class AdmissionLedger {
  private constructor(
    private readonly path: string,
    private readonly data: LedgerFile,
  ) {}

  static open(dataDir: string): AdmissionLedger {
    const path = join(dataDir, FILE_NAME);
    let data: LedgerFile | undefined;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LedgerFile>;
      if (typeof parsed.salt === 'string' && parsed.friends && typeof parsed.friends === 'object') data = { salt: parsed.salt, friends: { ...parsed.friends } };
    } catch {
      // absent or unreadable: start a new ledger (friends without an entry count as unknown)
    }
    return new AdmissionLedger(path, data ?? { salt: randomBytes(16).toString('hex'), friends: {} });
  }

  private fingerprint(secret: string): Buffer {
    return createHmac('sha256', Buffer.from(this.data.salt, 'hex')).update(secret).digest();
  }

  /** Records that this friend was admitted with this secret (and saves). */
  record(publicKey: string, secret: string): void {
    this.data.friends[publicKey.toUpperCase()] = this.fingerprint(secret).toString('hex');
    this.save();
  }

  forget(publicKey: string): void {
    if (delete this.data.friends[publicKey.toUpperCase()]) this.save();
  }

  /** True when this friend was admitted with exactly this secret. */
  admittedWith(publicKey: string, secret: string): boolean {
    const stored = this.data.friends[publicKey.toUpperCase()];
    if (!stored || !/^[0-9a-f]{64}$/.test(stored)) return false;
    return timingSafeEqual(Buffer.from(stored, 'hex'), this.fingerprint(secret));
  }

  private save(): void {
    writeFileAtomically(this.path, new TextEncoder().encode(JSON.stringify(this.data)));
  }
}
