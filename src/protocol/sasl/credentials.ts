/** Checks on caller values that go into a SASL payload: one owner for every mechanism. */
import { findLineBreak, InvalidArgumentError } from '../../errors.js';
import type { Credentials } from './types.js';

/** The password, or InvalidArgumentError when a password mechanism has none. */
export function requirePassword(credentials: Credentials, name: string): string {
  if (credentials.password === undefined)
    throw new InvalidArgumentError(`${name} needs a password`, { field: 'password' });
  return credentials.password;
}

/**
 * Refuses values that would break a `\x01`-separated payload (XOAUTH2, OAUTHBEARER) or a line:
 * `\x01` ends a key/value pair there, CR/LF/NUL would end a line.
 */
export function assertNoSeparators(value: string, field: string): void {
  if (value.includes('\x01') || findLineBreak(value) !== null) {
    throw new InvalidArgumentError(
      `${field} must not contain CR, LF, NUL or \\x01 (nor VT, FF, U+0085, U+2028, U+2029)`,
      { field },
    );
  }
}
