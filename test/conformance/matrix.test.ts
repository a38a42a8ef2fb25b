/**
 * The client-side conformance matrix of issue 7: smtpwire sends through real SMTP servers
 * (a private Postfix, aiosmtpd, smtp-server in its own process) and each delivered file is
 * compared with what was built.
 *
 * The cases come from matrix-cases.ts: every offered encryption × every offered SASL mechanism,
 * pipelining on and off, BDAT where CHUNKING is offered (and the DATA fallback where it is not),
 * a UTF-8 address, an 8-bit body, a body of leading dots and bare CR/LF, a 20 MB attachment
 * streamed from a file, and a refused recipient among accepted ones. Besides the delivered bytes,
 * each case checks from the transcript (and the server's own record where it keeps one) that the
 * channel, the mechanism, the pipelining and the transfer verb were really the ones asked for.
 *
 * An unavailable server is skipped with a loud banner, or fails the suite when
 * realServersRequired() (SMTPWIRE_REQUIRE_REAL_SERVERS=1 or CI set).
 * `matrix-report.ts` turns a JSON report of this file into the README table.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildMessage, type DeliveryResult, SmtpProtocolHandler, type TranscriptEntry } from '../../src/index.js';
import {
  EXPECTED_FEATURES,
  MATRIX_ROWS,
  type MatrixCase,
  matrixCases,
  notApplicable,
  usesBdat,
  usesPipelining,
} from './matrix-cases.js';
import { cell } from './matrix-report.js';
import {
  availableServers,
  type DeliveredMessage,
  REFUSED_RECIPIENT,
  type RealServer,
  SERVER_NAMES,
  startServer,
  stripAddedHeaders,
  TEST_DOMAIN,
  toCrlf,
} from './servers/index.js';
import { reportUnavailable } from './unavailable.js';

const availability = await availableServers();

const SENDER = 'sender@smtpwire.test';
const BOB = `bob@${TEST_DOMAIN}`;
const CAROL = `carol@${TEST_DOMAIN}`;
/** Size of the attachment case: 20 MiB of random bytes, base64 on the wire (~27 MB). */
const BIG_SIZE = 20 * 1024 * 1024;
/** A case sends one message; the 20 MB one gets more time on a slow runner. */
const CASE_TIMEOUT_MS = 60_000;

const ENCRYPTION = { none: 'none', starttls: 'tls', implicit: 'ssl' } as const;

let scratch: string;
let bigFile: string;
let bigHash: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'smtpwire-matrix-'));
  bigFile = join(scratch, 'big.bin');
  const bytes = randomBytes(BIG_SIZE);
  bigHash = sha256(bytes);
  await writeFile(bigFile, bytes);
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function streamHash(stream: Readable): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), size };
}

/**
 * What a body must become on the wire: smtpwire turns every bare CR and bare LF into CRLF
 * (RFC 5321 §2.3.8) and ends an unterminated last line. Written independently of its encoder.
 */
function normaliseLineEndings(raw: string): string {
  const crlf = raw.replace(/\r\n|\r|\n/g, '\r\n');
  return crlf.endsWith('\r\n') ? crlf : `${crlf}\r\n`;
}

/**
 * A raw message whose body is made of every transparency hazard: lines that are or start with
 * dots, a lone "." line between CRLFs (the end-of-data marker if unstuffed), bare LF and bare CR
 * around dots (the smuggling sequences), a mix of both, and a last line "." without CRLF.
 */
function dotsMessage(id: string): string {
  const head = [
    `Message-ID: <${id}@smtpwire.test>`,
    `From: ${SENDER}`,
    `To: ${BOB}`,
    'Subject: dots and bare line breaks',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    '',
  ].join('\r\n');
  const body =
    ['.', '..', '.leading dot', '...three dots', ' . space then dot', ''].join('\r\n') +
    'CRLF dot CRLF next:\r\n.\r\nafter the lone dot\r\n' +
    'bare LF dot bare LF next:\n.\nafter the bare-LF dot line\n' +
    'bare CR dot bare CR next:\r.\rafter the bare-CR dot line\r' +
    'mixed:\r\r\n\n\rend of mix\r\n' +
    '\n..\n.x\r.y\r\n' +
    // Longest legal lines (RFC 5321 §4.5.3.1.6: 998 octets); stuffing makes the first 999 on the wire.
    `.${'x'.repeat(997)}\r\n${'y'.repeat(998)}\n..${'z'.repeat(996)}\r` +
    'the last line is a lone dot without CRLF:\r\n.';
  return head + body;
}

/** The first batch of client lines from MAIL FROM on, until the server's first reply to it. */
function firstBatch(transcript: readonly TranscriptEntry[]): string[] {
  const start = transcript.findIndex((e) => e.direction === 'client' && e.line.startsWith('MAIL FROM:'));
  const batch: string[] = [];
  for (let j = start; j >= 0 && j < transcript.length && transcript[j]!.direction === 'client'; j++)
    batch.push(transcript[j]!.line);
  return batch;
}

/** `local@domain` with the domain in A-label form (servers differ in which form they record). */
function asciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1))}`;
}

function clientLines(transcript: readonly TranscriptEntry[]): string[] {
  return transcript.filter((e) => e.direction === 'client').map((e) => e.line);
}

/** The transcript as text, for failure messages. */
function show(transcript: readonly TranscriptEntry[]): string {
  return transcript.map((e) => `${e.direction === 'client' ? 'C:' : 'S:'} ${e.line}`).join('\n');
}

describe('conformance matrix: the plan', () => {
  it.each(SERVER_NAMES)('%s: every offered encryption × mechanism, every row a case or an n/a reason', (name) => {
    const features = EXPECTED_FEATURES[name];
    const cases = matrixCases(name);
    const encryptions = [
      'none',
      ...(features.starttls ? ['starttls'] : []),
      ...(features.implicitTls ? ['implicit'] : []),
    ];
    for (const encryption of encryptions) {
      for (const auth of features.authMechanisms) {
        expect(
          cases.some((c) => c.encryption === encryption && c.auth === auth && c.rows.length > 0),
          `${encryption} × ${auth}`,
        ).toBe(true);
      }
    }
    for (const { row } of MATRIX_ROWS) {
      const covered =
        cases.some((c) => c.rows.includes(row) || c.naRows[row] !== undefined) ||
        notApplicable(row, features) !== undefined;
      expect(covered, row).toBe(true);
    }
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it('the report says FAIL when one case of a row failed, and never pass for a row that did not run', () => {
    const cases = matrixCases('postfix');
    const status = new Map(cases.map((c) => [c.name, 'passed' as const]));
    expect(cell('postfix', 'bdat', cases, status)).toMatch(/^pass \(\d+\)$/);
    const bdat = cases.find((c) => c.rows.includes('bdat'))!;
    expect(cell('postfix', 'bdat', cases, new Map([...status, [bdat.name, 'failed' as const]]))).toMatch(
      /^\*\*FAIL\*\* \(1 of \d+\)$/,
    );
    expect(cell('postfix', 'bdat', cases, new Map(), 'unavailable')).toBe('skipped: unavailable');
    expect(cell('aiosmtpd', 'bdat', matrixCases('aiosmtpd'), new Map())).toBe('n/a: CHUNKING not advertised');
  });
});

for (const entry of availability) {
  describe(`conformance matrix: ${entry.name}`, () => {
    if (!entry.available) {
      reportUnavailable(entry);
      return;
    }

    let server: RealServer;

    beforeAll(async () => {
      server = await startServer(entry.name);
      // The cases were planned from EXPECTED_FEATURES: a server that offers something else must say so.
      const { sizeLimit: _size, ...offered } = server.features;
      expect(offered).toEqual(EXPECTED_FEATURES[entry.name]);
    });

    afterAll(async () => {
      await server?.stop();
    });

    beforeEach(async () => {
      await server.clearMessages();
    });

    /** The delivered bytes minus the server's trace headers, with CRLF line endings. */
    function asSent(delivered: DeliveredMessage): Buffer {
      const crlf = delivered.lineEnding === 'lf' ? toCrlf(delivered.raw) : delivered.raw;
      return stripAddedHeaders(crlf, server.addedHeaders);
    }

    /** Every delivered copy once `count` envelope recipients have arrived (Postfix splits per domain). */
    async function waitForRecipients(count: number): Promise<DeliveredMessage[]> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const messages = await server.readMessages();
        if (messages.reduce((n, m) => n + m.recipients.length, 0) >= count) return messages;
        if (Date.now() > deadline) await server.waitForMessages(messages.length + 1, 0); // throws with the log tail
        await new Promise((r) => setTimeout(r, 25));
      }
    }

    function handlerFor(c: MatrixCase, transcript: TranscriptEntry[]): SmtpProtocolHandler {
      const user = server.users[0]!;
      return new SmtpProtocolHandler({
        hostname: server.host,
        port: c.encryption === 'implicit' ? server.tlsPort! : server.port,
        encryption: ENCRYPTION[c.encryption],
        // Verified against the test CA: rejectUnauthorized stays at its default (true).
        tls: { ca: server.tls.ca, servername: server.tls.servername },
        ...(c.auth === 'none' ? {} : { username: user.username, password: user.password, authMethod: c.auth }),
        pipelining: c.pipelining,
        chunking: c.chunking,
        poolSize: 1,
        retryPolicy: { maxRetries: 0 },
        onTranscript: (e) => transcript.push(e),
      });
    }

    /** Sends a prepared message with sendRaw and checks it arrived byte for byte (after `expected`). */
    async function sendRawAndCompare(
      handler: SmtpProtocolHandler,
      envelope: { from: string; to: string[] },
      message: Buffer,
      expected: Buffer,
      transcript: readonly TranscriptEntry[],
    ): Promise<DeliveredMessage> {
      const result = await handler.sendRaw(envelope, message);
      expect(result.status, `${result.smtpError}\n${show(transcript)}`).toBe('success');
      const [delivered] = await server.waitForMessages(1);
      expect(asSent(delivered!).toString('latin1')).toBe(expected.toString('latin1'));
      return delivered!;
    }

    const cases = matrixCases(entry.name);

    for (const c of cases) {
      it(
        c.name,
        async () => {
          const features = server.features;
          const transcript: TranscriptEntry[] = [];
          const handler = handlerFor(c, transcript);
          let delivered: DeliveredMessage;
          let rcptCount = 1;
          if (c.auth !== 'none' && !features.authMechanisms.includes(c.auth)) {
            try {
              const result = await handler.sendMessage({
                fromAddress: SENDER,
                toAddresses: [BOB],
                subject: 'never sent',
                textBody: 'x',
              });
              expect(result.status).toBe('failed');
              expect(result.error?.code).toBe('ERR_SMTP_AUTH_UNAVAILABLE');
              expect(clientLines(transcript).filter((l) => /^(AUTH|MAIL) /.test(l))).toEqual([]);
              expect(await server.readMessages()).toEqual([]);
            } finally {
              await handler.close();
            }
            return;
          }
          try {
            switch (c.content) {
              case 'text': {
                const built = buildMessage({
                  fromAddress: `"Sender, S." <${SENDER}>`,
                  toAddresses: [BOB],
                  subject: `matrix ${c.name}`,
                  textBody: 'Hello from the smtpwire conformance matrix.\n',
                  htmlBody: '<p>Hello from the <b>smtpwire</b> conformance matrix.</p>',
                  deterministic: { seed: c.name },
                });
                const bytes = await built.toBuffer();
                delivered = await sendRawAndCompare(handler, built.envelope, bytes, bytes, transcript);
                expect([delivered.sender, delivered.recipients]).toEqual([SENDER, [BOB]]);
                break;
              }
              case '8bit': {
                const built = buildMessage({
                  fromAddress: SENDER,
                  toAddresses: [BOB],
                  subject: 'Grüße, 8-bit body',
                  textBody: 'Grüße aus Köln: naïve café, ½ €, 日本語, ﬁ ligature.\n'.repeat(20),
                  allow8bit: true,
                  deterministic: { seed: c.name },
                });
                const bytes = await built.toBuffer();
                expect(built.has8bit).toBe(true);
                expect(bytes.toString('latin1')).toMatch(/^Content-Transfer-Encoding: 8bit\r$/m);
                delivered = await sendRawAndCompare(handler, built.envelope, bytes, bytes, transcript);
                expect(firstBatch(transcript)[0]).toMatch(/ BODY=8BITMIME(?: |$)/);
                if ('mailOptions' in delivered.meta) expect(delivered.meta.mailOptions).toContain('BODY=8BITMIME');
                break;
              }
              case 'dots': {
                const raw = dotsMessage(sha256(c.name).slice(0, 16));
                const expected = Buffer.from(normaliseLineEndings(raw), 'latin1');
                delivered = await sendRawAndCompare(
                  handler,
                  { from: SENDER, to: [BOB] },
                  Buffer.from(raw, 'latin1'),
                  expected,
                  transcript,
                );
                break;
              }
              case 'utf8-address': {
                const to = ['Jörg <jörg@test.example>', 'ana@bücher.example', BOB];
                rcptCount = to.length;
                const built = buildMessage({
                  fromAddress: 'Zoë <zoë@smtpwire.test>',
                  toAddresses: to,
                  subject: 'SMTPUTF8: Grüße',
                  textBody: 'An internationalised envelope.\n',
                  deterministic: { seed: c.name },
                });
                expect(built.needsSmtpUtf8).toBe(true);
                const bytes = await built.toBuffer();
                if (!features.smtputf8) {
                  const result = await handler.sendRaw({ from: 'zoë@smtpwire.test', to }, bytes);
                  expect(result.error?.code).toBe('ERR_SMTP_SMTPUTF8_UNSUPPORTED');
                  expect(clientLines(transcript).some((l) => l.startsWith('MAIL FROM:'))).toBe(false);
                  return;
                }
                const result = await handler.sendRaw({ from: 'Zoë <zoë@smtpwire.test>', to }, bytes);
                expect(result.status, `${result.smtpError}\n${show(transcript)}`).toBe('success');
                // The IDN domain goes out as its A-label, the UTF-8 local part as is (RFC 6531 §3.2).
                const rcptLines = clientLines(transcript).filter((l) => l.startsWith('RCPT TO:'));
                expect(rcptLines).toEqual([
                  'RCPT TO:<jörg@test.example>',
                  'RCPT TO:<ana@xn--bcher-kva.example>',
                  `RCPT TO:<${BOB}>`,
                ]);
                // Postfix delivers once per destination domain: collect every copy, each must be identical.
                const copies = await waitForRecipients(3);
                for (const copy of copies) {
                  expect(copy.sender).toBe('zoë@smtpwire.test');
                  expect(asSent(copy).toString('latin1')).toBe(bytes.toString('latin1'));
                }
                // smtp-server records the domain as a U-label again; compare in A-label form.
                const recorded = copies.flatMap((m) => m.recipients.map(asciiDomain)).sort();
                expect(recorded).toEqual(['ana@xn--bcher-kva.example', BOB, 'jörg@test.example'].sort());
                delivered = copies[0]!;
                if ('mailOptions' in delivered.meta) expect(delivered.meta.mailOptions).toContain('SMTPUTF8');
                break;
              }
              case 'refused': {
                const messageId = `<${sha256(c.name).slice(0, 24)}@smtpwire.test>`;
                const toAddresses = [BOB, REFUSED_RECIPIENT, `"Carol, C." <${CAROL}>`];
                rcptCount = toAddresses.length;
                const result: DeliveryResult = await handler.sendMessage({
                  fromAddress: `Sender <${SENDER}>`,
                  toAddresses,
                  subject: 'one refused recipient',
                  textBody: 'Two of three recipients get this.',
                  messageId,
                });
                expect(result.status, `${result.smtpError}\n${show(transcript)}`).toBe('success');
                expect(Object.keys(result.recipientFailures)).toEqual([REFUSED_RECIPIENT]);
                expect(result.recipientFailures[REFUSED_RECIPIENT]).toMatch(/^550 5\.1\.1\b/);
                expect([...(result.acceptedRecipients ?? [])].sort()).toEqual([BOB, CAROL]);
                expect(result.messageId).toBe(messageId);
                [delivered] = (await server.waitForMessages(1)) as [DeliveredMessage];
                expect([...delivered.recipients].sort()).toEqual([BOB, CAROL]);
                const parsed = await simpleParser(asSent(delivered));
                expect(parsed.messageId).toBe(messageId);
                expect(parsed.subject).toBe('one refused recipient');
                expect(parsed.text?.trim()).toBe('Two of three recipients get this.');
                expect(parsed.from?.value.map((a) => a.address)).toEqual([SENDER]);
                // The header still names everyone the caller wrote to: refusal is an envelope matter.
                const toHeader = Array.isArray(parsed.to) ? parsed.to : parsed.to ? [parsed.to] : [];
                expect(toHeader.flatMap((t) => t.value.map((a) => a.address))).toEqual([BOB, REFUSED_RECIPIENT, CAROL]);
                break;
              }
              case 'attachment-20mb': {
                if (!usesBdat(c, features)) {
                  // DATA: the handler's own path, the attachment streamed from its file by sendMessage.
                  const messageId = `<${sha256(c.name).slice(0, 24)}@smtpwire.test>`;
                  const result = await handler.sendMessage({
                    fromAddress: SENDER,
                    toAddresses: [BOB],
                    subject: '20 MB attachment',
                    textBody: 'See the attachment.',
                    attachments: [{ filename: 'big.bin', path: bigFile, contentType: 'application/octet-stream' }],
                    messageId,
                  });
                  expect(result.status, `${result.smtpError}\n${show(transcript)}`).toBe('success');
                  [delivered] = (await server.waitForMessages(1, 30_000)) as [DeliveredMessage];
                  const body = asSent(delivered);
                  // RFC 1870: the declared SIZE is the exact size of the message as delivered.
                  expect(firstBatch(transcript)[0]).toContain(` SIZE=${body.length}`);
                  const parsed = await simpleParser(body);
                  expect(parsed.messageId).toBe(messageId);
                  expect(parsed.text?.trim()).toBe('See the attachment.');
                  expect(parsed.attachments.map((a) => [a.filename, a.content.length, sha256(a.content)])).toEqual([
                    ['big.bin', BIG_SIZE, bigHash],
                  ]);
                  break;
                }
                // BDAT: a prepared message, sent from a stream factory, compared by hash of the raw bytes.
                const built = buildMessage({
                  fromAddress: SENDER,
                  toAddresses: [BOB],
                  subject: '20 MB attachment',
                  textBody: 'See the attachment.\n',
                  attachments: [{ filename: 'big.bin', path: bigFile, contentType: 'application/octet-stream' }],
                  deterministic: { seed: c.name },
                });
                expect(built.replayable).toBe(true);
                const sent = await streamHash(built.stream());
                expect(sent.size).toBe(built.size);
                const result = await handler.sendRaw(built.envelope, () => built.stream());
                expect(result.status, `${result.smtpError}\n${show(transcript)}`).toBe('success');
                [delivered] = (await server.waitForMessages(1, 30_000)) as [DeliveredMessage];
                const body = asSent(delivered);
                expect({ size: body.length, hash: sha256(body) }).toEqual(sent);
                // One BDAT per chunk, the last one flagged LAST (RFC 3030 §2), sizes adding up to the message.
                const chunks = clientLines(transcript).filter((l) => l.startsWith('BDAT '));
                expect(chunks.length).toBeGreaterThan(1);
                expect(chunks.reduce((n, l) => n + Number(l.split(' ')[1]), 0)).toBe(sent.size);
                break;
              }
            }
          } finally {
            await handler.close();
          }

          // The channel, the mechanism, the pipelining and the verb were the ones asked for.
          const lines = clientLines(transcript);
          if (c.encryption === 'starttls') {
            const at = transcript.findIndex((e) => e.direction === 'client' && e.line === 'STARTTLS');
            expect(at, show(transcript)).toBeGreaterThan(0);
            expect(transcript[at + 1]?.line).toMatch(/^220[ -]/);
          } else {
            expect(lines).not.toContain('STARTTLS');
          }
          // aiosmtpd sets session.ssl only after STARTTLS, so its record says nothing about implicit TLS
          // (a plaintext client could not have talked to that port at all).
          if ('tls' in delivered.meta && c.encryption !== 'implicit')
            expect(delivered.meta.tls).toBe(c.encryption === 'starttls');

          const authLines = lines.filter((l) => /^AUTH /i.test(l));
          if (c.auth === 'none') {
            expect(authLines).toEqual([]);
            if ('authUser' in delivered.meta) expect(delivered.meta.authUser).toBeNull();
          } else {
            expect(authLines.map((l) => l.split(' ')[1])).toEqual([c.auth]);
            // Secrets never reach the transcript (AUTH PLAIN ****).
            expect(show(transcript)).not.toContain(server.users[0]!.password);
            if ('authUser' in delivered.meta)
              expect(String(delivered.meta.authUser)).toMatch(new RegExp(`^${server.users[0]!.username}(?:@|$)`));
          }

          const bdat = usesBdat(c, features);
          const batch = firstBatch(transcript);
          if (usesPipelining(c, features)) {
            // RFC 2920 §3.1: MAIL, every RCPT and (for DATA) the DATA command in one batch.
            expect(batch.length, show(transcript)).toBe(1 + rcptCount + (bdat ? 0 : 1));
            expect(batch.slice(1, 1 + rcptCount).every((l) => l.startsWith('RCPT TO:'))).toBe(true);
          } else {
            expect(batch.length, show(transcript)).toBe(1);
          }
          if (bdat) {
            expect(lines).not.toContain('DATA');
            expect(lines.filter((l) => /^BDAT \d+ LAST$/.test(l))).toHaveLength(1);
          } else {
            expect(lines).toContain('DATA');
            expect(lines.some((l) => l.startsWith('BDAT'))).toBe(false);
          }
        },
        CASE_TIMEOUT_MS,
      );
    }
  });
}
