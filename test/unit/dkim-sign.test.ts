/**
 * DKIM signer: key and option errors at construction (typed, never quoting the key), the field's format
 * (tag order, folding within 78 columns, CRLF), oversigning, l=, x=, i=, and the DNS record.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dkimDnsRecord, dkimSign, ErrorCodes, InvalidArgumentError } from '../../src/index.js';
import { DkimMessageHasher } from '../../src/message/dkim/message.js';
import { type DkimOptions, DkimSigner } from '../../src/message/dkim/sign.js';
import { DKIM_KEYS } from '../helpers/dkim-verifiers.js';

const base: DkimOptions = { domainName: 'example.com', keySelector: 's1', privateKey: DKIM_KEYS.ed25519 };
const message = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n';

function thrown(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('expected a throw');
}

function tags(field: string): Map<string, string> {
  const unfolded = field.replace(/\r\n[ \t]+/g, ' ').replace(/^DKIM-Signature:\s*/, '');
  return new Map(
    unfolded
      .split(';')
      .map((t) => t.trim())
      .filter(Boolean)
      .map((t) => [t.slice(0, t.indexOf('=')).trim(), t.slice(t.indexOf('=') + 1).replace(/\s+/g, '')]),
  );
}

describe('keys', () => {
  it('refuses RSA under 1024 bits (RFC 8301), with ERR_SMTP_DKIM_KEY', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 768 });
    const err = thrown(() => new DkimSigner({ ...base, privateKey }));
    expect(err.code).toBe(ErrorCodes.DKIM_KEY);
    expect(err.message).toMatch(/768 bits/);
    expect(new DkimSigner({ ...base, privateKey: DKIM_KEYS.rsa1024 }).algorithm).toBe('rsa-sha256');
  });

  it('refuses unreadable PEM without quoting it, public keys, EC keys and a mismatched algorithm', () => {
    const secretish = '-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n';
    const bad = thrown(() => new DkimSigner({ ...base, privateKey: secretish }));
    expect(bad.code).toBe(ErrorCodes.DKIM_KEY);
    expect(bad.message).not.toContain('SECRET');
    const pub = createPublicKey(DKIM_KEYS.ed25519);
    expect(thrown(() => new DkimSigner({ ...base, privateKey: pub })).code).toBe(ErrorCodes.DKIM_KEY);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(thrown(() => new DkimSigner({ ...base, privateKey: ec })).message).toMatch(/"ec"/);
    const mismatch = thrown(() => new DkimSigner({ ...base, algorithm: 'rsa-sha256' }));
    expect(mismatch.code).toBe(ErrorCodes.DKIM_KEY);
    expect(mismatch.field).toBe('dkim.algorithm');
    expect(thrown(() => new DkimSigner({ ...base, privateKey: 42 as never })).code).toBe(ErrorCodes.DKIM_KEY);
  });

  it('takes PEM strings, Buffers and KeyObjects', () => {
    expect(new DkimSigner({ ...base, privateKey: Buffer.from(DKIM_KEYS.rsa2048) }).algorithm).toBe('rsa-sha256');
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(new DkimSigner({ ...base, privateKey, algorithm: 'ed25519-sha256' }).algorithm).toBe('ed25519-sha256');
  });

  it('DNS records: RSA SPKI, Ed25519 raw 32-byte key (RFC 8463)', () => {
    const edRecord = dkimDnsRecord(DKIM_KEYS.ed25519);
    expect(edRecord).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(edRecord.split('p=')[1]!, 'base64')).toHaveLength(32);
    const rsaRecord = dkimDnsRecord(DKIM_KEYS.rsa2048);
    expect(rsaRecord).toMatch(/^v=DKIM1; k=rsa; p=MIIBIjAN/);
    // The public key gives the same record as the private one.
    expect(dkimDnsRecord(createPublicKey(DKIM_KEYS.rsa2048))).toBe(rsaRecord);
  });
});

describe('options', () => {
  it('unknown keys get a did-you-mean; bad values name the field', () => {
    expect(thrown(() => new DkimSigner({ ...base, selector: 'x' } as never)).message).toMatch(/did you mean/);
    expect(thrown(() => new DkimSigner({ ...base, domainName: 'bad domain' })).field).toBe('dkim.domainName');
    expect(thrown(() => new DkimSigner({ ...base, keySelector: 'a;b' })).field).toBe('dkim.keySelector');
    expect(thrown(() => new DkimSigner({ ...base, canonicalization: 'relaxed' as never })).field).toBe(
      'dkim.canonicalization',
    );
    expect(thrown(() => new DkimSigner({ ...base, headerFields: ['To', 'Subject'] })).message).toMatch(/From/);
    expect(thrown(() => new DkimSigner({ ...base, identity: 'x@other.org' })).field).toBe('dkim.identity');
    expect(thrown(() => new DkimSigner({ ...base, expiresIn: -1 })).field).toBe('dkim.expiresIn');
  });

  it('a message without From cannot be signed (ERR_SMTP_DKIM_SIGN)', async () => {
    await expect(dkimSign('Subject: x\r\n\r\nbody\r\n', base)).rejects.toMatchObject({ code: ErrorCodes.DKIM_SIGN });
  });
});

describe('the DKIM-Signature field', () => {
  it('has tags in a fixed order, folds within 78 columns and ends in CRLF', async () => {
    const field = await dkimSign(message, { ...base, privateKey: DKIM_KEYS.rsa2048, identity: '@mail.example.com' });
    expect(field.endsWith('\r\n')).toBe(true);
    for (const line of field.slice(0, -2).split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    expect([...tags(field).keys()]).toEqual(['v', 'a', 'c', 'd', 's', 't', 'i', 'h', 'bh', 'b']);
    expect(tags(field).get('i')).toBe('@mail.example.com');
    expect(tags(field).get('c')).toBe('relaxed/relaxed');
  });

  it('oversigns present fields by default, a given list (present or not), or none', async () => {
    expect(tags(await dkimSign(message, base)).get('h')).toBe('from:from:subject:subject:to:to');
    expect(tags(await dkimSign(message, { ...base, oversign: false })).get('h')).toBe('from:subject:to');
    expect(tags(await dkimSign(message, { ...base, oversign: ['From', 'Reply-To'] })).get('h')).toBe(
      'from:from:reply-to:subject:to',
    );
  });

  it('l= only with bodyLength; x= from expiresIn', async () => {
    expect(tags(await dkimSign(message, base)).has('l')).toBe(false);
    const t = tags(await dkimSign(message, { ...base, bodyLength: true, expiresIn: 3_600_000 }));
    expect(t.get('l')).toBe('6'); // "body\r\n"
    expect(Number(t.get('x')) - Number(t.get('t'))).toBe(3600);
  });

  it('one signature per option in a list, long h= lists folded at colons', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `X-Header-Number-${i}`);
    const fields = await dkimSign(`From: a@example.com\r\n${many.map((n) => `${n}: v`).join('\r\n')}\r\n\r\nx\r\n`, [
      { ...base, headerFields: ['From', ...many] },
      { ...base, privateKey: DKIM_KEYS.rsa2048 },
    ]);
    expect(fields.match(/^DKIM-Signature:/gm)).toHaveLength(2);
    for (const line of fields.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
  });

  it('hashes the body as transmitted: bare LF and CRLF give the same signature body hash', () => {
    const signer = new DkimSigner(base);
    const hash = (text: string, chunk: number): string => {
      const h = new DkimMessageHasher([signer]);
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += chunk) h.update(buf.subarray(i, i + chunk));
      return tags(h.finish(new Date(0))).get('bh')!;
    };
    const crlf = hash(message, 1000);
    expect(hash(message.replace(/\r\n/g, '\n'), 3)).toBe(crlf);
    expect(hash(message, 1)).toBe(crlf);
  });
});
