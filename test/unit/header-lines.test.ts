/**
 * The builder's repeated header lines (mime/header-lines.ts) come from caches: the bytes must be exactly
 * those of the uncached path, for a repeated sender, subject and second as for new ones.
 */
import { describe, expect, it } from 'vitest';
import { AddressCache } from '../../src/message/address.js';
import { buildMessage } from '../../src/message/mime/index.js';

const base = {
  fromAddress: '"Jörg Ünal" <jorg@example.com>',
  toAddresses: ['Team: a@example.org, b@example.org;', 'c@example.org'],
  ccAddresses: ['"Doe, Jane" <jane@example.net>'],
  replyTo: 'reply@example.com',
  textBody: 'hello\r\n',
  deterministic: { seed: 's' },
};

const bytes = (options: object, cache?: AddressCache): string =>
  buildMessage({ subject: 's', ...base, ...options }, cache)
    .toBufferSync()
    .toString('latin1');

describe('cached header lines', () => {
  it('a repeated sender, recipients, subject and second: the same bytes as without a cache', () => {
    const cache = new AddressCache();
    const subjects = ['Hi', 'Grüße aus Köln, ein etwas längerer Betreff der gefaltet werden muss, ganz sicher', 'Hi'];
    const dates = [new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 10)), new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 990))];
    for (const subject of subjects) {
      for (const date of dates) {
        const options = { subject, date };
        const expected = bytes(options);
        expect(bytes(options, cache)).toBe(expected);
        expect(bytes(options, cache)).toBe(expected);
      }
    }
  });

  it('the Date line follows the second, and one address value written under two field names', () => {
    const cache = new AddressCache();
    const a = bytes({ date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 999)), toAddresses: ['x@example.org'] }, cache);
    const b = bytes({ date: new Date(Date.UTC(2026, 0, 2, 3, 4, 6, 0)), ccAddresses: ['x@example.org'] }, cache);
    expect(a).toContain('Date: Fri, 02 Jan 2026 03:04:05 +0000\r\n');
    expect(b).toContain('Date: Fri, 02 Jan 2026 03:04:06 +0000\r\n');
    expect(a).toContain('To: x@example.org\r\n');
    expect(b).toContain('Cc: x@example.org\r\n');
  });

  it('an invalid date is still refused after a valid one was cached', () => {
    bytes({ date: new Date(Date.UTC(2026, 0, 2)) });
    expect(() => bytes({ date: new Date(Number.NaN) })).toThrow(/date must be a valid Date/);
  });
});
