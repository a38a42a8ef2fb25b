/** Checks on caller values that go into a SASL payload: one owner for every mechanism. */
import { assertNoLineBreaks, InvalidArgumentError } from '../../errors.js';
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
  // CR, LF or NUL: the one injection code; \x01 is this payload's own separator.
  assertNoLineBreaks(value, field);
  if (value.includes('\x01')) throw new InvalidArgumentError(`${field} must not contain \\x01`, { field });
}
