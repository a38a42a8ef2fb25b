/**
 * Every DKIM signature smtpwire makes verifies with two independent verifiers, mailauth (Node) and dkimpy
 * (Python), over random builder messages (non-ASCII and long folded headers, attachments, trailing
 * whitespace, empty bodies, lines of only spaces), every canonicalization pair, both algorithms, single and
 * dual signatures; and a changed body byte or signed header fails in both.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dkimSign } from '../../src/index.js';
import type { DkimCanonicalization, DkimOptions } from '../../src/message/dkim/sign.js';
import { buildMessage } from '../../src/message/mime/index.js';
import type { ServerName } from '../conformance/servers/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import {
  DKIM_KEYS,
  dkimpyUnavailable,
  dkimpyVerify,
  fixtureRecords,
  mailauthVerify,
} from '../helpers/dkim-verifiers.js';
import { headerSafe } from '../helpers/header-safe.js';

const RUNS = Number(process.env.DKIM_RUNS ?? 40);
/** A fresh seed each run (printed with any failure); DKIM_SEED=n replays one. */
const SEED = Number(process.env.DKIM_SEED ?? Math.floor(Math.random() * 2 ** 31));
const records = fixtureRecords();
const PAIRS: DkimCanonicalization[] = ['relaxed/relaxed', 'relaxed/simple', 'simple/simple', 'simple/relaxed'];

const rsa = (c: DkimCanonicalization): DkimOptions => ({
  domainName: 'example.com',
  keySelector: 'rsa2048',
  privateKey: DKIM_KEYS.rsa2048,
  canonicalization: c,
});
const ed = (c: DkimCanonicalization): DkimOptions => ({
  domainName: 'example.com',
  keySelector: 'ed25519',
  privateKey: DKIM_KEYS.ed25519,
  canonicalization: c,
});

const text = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'grapheme', maxLength: 15 }),
      fc.constantFrom(' ', '   ', '\t', 'trailing  ', 'é'.repeat(40), 'word '.repeat(40), '日本語', '😀', '.', ''),
    ),
    { maxLength: 6 },
  )
  .map((p) => p.join(''));
const body = fc
  .array(
    fc.tuple(
      fc.oneof(text, fc.constantFrom('', '    ', ' \t ', '.dot', 'x'.repeat(500))),
      fc.constantFrom('\r\n', '\n'),
    ),
    {
      maxLength: 8,
    },
  )
  .map((lines) => lines.map(([l, br]) => l + br).join(''));

const messageArb = fc.record({
  subject: text.map(headerSafe),
  name: text.map((s) => s.replace(/[\x00-\x1f\x7f-\x9f]/g, '')),
  textBody: fc.option(body, { nil: undefined }),
  htmlBody: fc.option(body, { nil: undefined }),
  custom: fc.option(text.map(headerSafe), { nil: undefined }),
  attachments: fc.array(
    fc.record({ filename: fc.constantFrom('a.bin', 'rapport é.pdf'), bytes: fc.uint8Array({ maxLength: 2000 }) }),
    {
      maxLength: 2,
    },
  ),
  pair: fc.constantFrom(...PAIRS),
  pair2: fc.constantFrom(...PAIRS),
  keys: fc.constantFrom('rsa', 'ed', 'dual'),
});

type Case = fc.Arbitrary<typeof messageArb extends fc.Arbitrary<infer T> ? T : never>;

async function signCase(c: Case extends fc.Arbitrary<infer T> ? T : never): Promise<Buffer> {
  const built = buildMessage({
    fromAddress: `"${c.name.replace(/["\\]/g, '')}" <sender@example.com>`,
    toAddresses: ['rcpt@example.org', 'Zoë <zoe@example.net>'],
    subject: c.subject,
    ...(c.textBody === undefined ? {} : { textBody: c.textBody }),
    ...(c.htmlBody === undefined ? {} : { htmlBody: c.htmlBody }),
    ...(c.custom === undefined ? {} : { customHeaders: { 'X-Long': `${c.custom} ${'folded words '.repeat(12)}` } }),
    attachments: c.attachments.map((a) => ({ filename: a.filename, content: Buffer.from(a.bytes) })),
  });
  const message = await built.toBuffer();
  const options = c.keys === 'rsa' ? rsa(c.pair) : c.keys === 'ed' ? ed(c.pair) : [rsa(c.pair), ed(c.pair2)];
  const signature = await dkimSign(message, options);
  return Buffer.concat([Buffer.from(signature, 'latin1'), message]);
}

const cases = fc.sample(messageArb, { numRuns: RUNS, seed: SEED });
// Built at load time: a failure here names the seed that replays it.
const signed = await Promise.all(cases.map(signCase)).catch((err: Error) => {
  throw new Error(`DKIM_SEED=${SEED}: ${err.message}`, { cause: err });
});

/** Every pair × {RSA, Ed25519, both} on one awkward message. */
const awkward = Buffer.from(
  'From: =?UTF-8?Q?J=C3=B6rg?= <sender@example.com>\nTo: rcpt@example.org\nSubject:   spaced\t out   \n' +
    '  and folded  \nX-Empty:\nMIME-Version: 1.0\n\n   \n  lines of only spaces  \n\t\nend  \n\n\n',
  'latin1',
);
const matrix: Buffer[] = [];
for (const c of PAIRS) {
  for (const opts of [rsa(c), ed(c), [rsa(c), ed(c)]]) {
    matrix.push(Buffer.concat([Buffer.from(await dkimSign(awkward, opts), 'latin1'), awkward]));
  }
}
/** Raw UTF-8 in headers (RFC 6532, as sent with SMTPUTF8): signed byte for byte. */
const utf8Headers = Buffer.from(
  'From: Jörg <jörg@example.com>\r\nTo: 用户@例子.example\r\nSubject:  Grüße  aus   Köln \r\n\r\nHällo\r\n',
  'utf8',
);
for (const c of PAIRS)
  matrix.push(Buffer.concat([Buffer.from(await dkimSign(utf8Headers, [rsa(c), ed(c)])), utf8Headers]));
const emptyBody = Buffer.from('From: sender@example.com\r\nSubject: nothing\r\n\r\n');
for (const c of PAIRS) matrix.push(Buffer.concat([Buffer.from(await dkimSign(emptyBody, [rsa(c), ed(c)])), emptyBody]));

/** One body byte changed (the last byte before the final CRLF) and one signed header changed. */
function tamperBody(message: Buffer): Buffer {
  const copy = Buffer.from(message);
  let i = copy.length - 1;
  while (i > 0 && (copy[i] === 0x0a || copy[i] === 0x0d || copy[i] === 0x20 || copy[i] === 0x09)) i--;
  copy[i] = copy[i] === 0x41 ? 0x42 : 0x41;
  return copy;
}
function tamperHeader(message: Buffer): Buffer {
  return Buffer.from(message.toString('latin1').replace(/\nSubject:/i, '\nSubject: Re:'), 'latin1');
}
const withBody = signed.filter((_, i) => cases[i]!.textBody?.trim() || cases[i]!.attachments.length > 0).slice(0, 10);
const tampered = [...withBody.map(tamperBody), ...signed.slice(0, 10).map(tamperHeader), tamperBody(matrix[0]!)];

const expectedCount = (m: Buffer): number => (m.toString('latin1').match(/^DKIM-Signature:/gm) ?? []).length;

describe('mailauth verifies', () => {
  it('every signature of random builder messages', async () => {
    for (const [i, m] of signed.entries()) {
      const res = await mailauthVerify(m, records);
      expect(res, `DKIM_SEED=${SEED} case ${i}: ${JSON.stringify(cases[i])}`).toEqual(
        new Array(expectedCount(m)).fill(true),
      );
    }
  });

  it('every canonicalization pair, both algorithms, single and dual', async () => {
    for (const m of matrix) expect(await mailauthVerify(m, records)).toEqual(new Array(expectedCount(m)).fill(true));
  });

  it('fails a changed body byte or a changed signed header', async () => {
    expect(tampered.length).toBeGreaterThan(10);
    for (const m of tampered) {
      const res = await mailauthVerify(m, records);
      expect(res.length).toBeGreaterThan(0);
      expect(res.every((ok) => !ok)).toBe(true);
    }
  });
});

const dkimpyMissing = await dkimpyUnavailable();
describe('dkimpy verifies', () => {
  if (dkimpyMissing !== null) {
    reportUnavailable({ name: 'dkimpy' as ServerName, available: false, reason: dkimpyMissing });
    return;
  }
  it('every signature: random messages, every pair, both algorithms, dual; tampered ones fail', async () => {
    const all = [...signed, ...matrix, ...tampered];
    const results = await dkimpyVerify(all, records);
    const good = signed.length + matrix.length;
    for (const [i, res] of results.entries()) {
      const m = all[i]!;
      if (i < good) expect(res, `DKIM_SEED=${SEED} message ${i}`).toEqual(new Array(expectedCount(m)).fill(true));
      else expect(res.every((ok) => !ok) && res.length > 0, `tampered ${i - good}`).toBe(true);
    }
  });
});
