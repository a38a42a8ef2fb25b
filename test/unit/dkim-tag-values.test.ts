/**
 * DKIM tag values (issue 23): a headerFields or oversign name with `;` would end `h=` and inject tags; a huge
 * expiresIn wrote `x=1e+22`; `smtpwire dkim-record` took a newline in --selector / --domain. One owner checks
 * selector and domain for both the signer and the CLI.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dkimRecordName, dkimSign } from '../../src/index.js';
import { DKIM_MAX_EXPIRES_IN, DkimSigner } from '../../src/message/dkim/sign.js';
import { runMain } from '../helpers/cli.js';
import { DKIM_KEYS } from '../helpers/dkim-verifiers.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/dkim/', import.meta.url));
const base = { domainName: 'example.com', keySelector: 's1', privateKey: DKIM_KEYS.ed25519 };
const MESSAGE = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n';

const run = runMain;

describe('DKIM tag values', () => {
  it.each([
    [{ headerFields: ['From', 'Subject;x=1'] }, 'dkim.headerFields'],
    [{ oversign: ['From;t=0'] }, 'dkim.oversign'],
    [{ expiresIn: 1e25 }, 'dkim.expiresIn'],
    [{ expiresIn: DKIM_MAX_EXPIRES_IN + 1 }, 'dkim.expiresIn'],
    [{ expiresIn: Number.NaN }, 'dkim.expiresIn'],
    [{ keySelector: 's1\nevil' }, 'dkim.keySelector'],
  ])('refuses %j naming %s', (extra, field) => {
    expect(() => new DkimSigner({ ...base, ...extra } as never)).toThrow(expect.objectContaining({ field }));
  });

  it('the longest expiresIn allowed still writes x= as at most 12 digits', async () => {
    const signed = await dkimSign(MESSAGE, { ...base, expiresIn: DKIM_MAX_EXPIRES_IN });
    const x = /x=(\d+);/.exec(signed.replace(/\r\n\s+/g, ' '))?.[1];
    expect(x).toMatch(/^\d{1,12}$/);
  });

  it('dkimRecordName: the signer’s rules for selector and domain', () => {
    expect(dkimRecordName('s1', 'Example.COM.')).toBe('s1._domainkey.example.com.');
    for (const [s, d] of [
      ['s1\nevil IN TXT "x"', 'example.com'],
      ['s1', 'example.com\nevil'],
      ['s 1', 'example.com'],
      ['s1', 'exa;mple.com'],
    ])
      expect(() => dkimRecordName(s!, d!)).toThrow();
  });

  it('smtpwire dkim-record refuses a newline in --selector or --domain (usage error, nothing printed)', async () => {
    for (const args of [
      ['--selector', 's1\nevil', '--domain', 'example.com'],
      ['--selector', 's1', '--domain', 'example.com\n@ IN A 1.2.3.4'],
    ]) {
      const r = await run(['dkim-record', '--key', `${FIXTURES}ed25519.pem`, ...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
    }
  });
});
