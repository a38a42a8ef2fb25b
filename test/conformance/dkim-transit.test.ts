/**
 * DKIM after transit: messages signed by smtpwire, sent through a real Postfix and aiosmtpd, read back from
 * their spools (with the trace headers they add), still verify with mailauth and dkimpy — RSA-2048 and
 * Ed25519, single and dual, relaxed and simple, builder and raw (spooled stream) messages.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DkimOptions, SmtpDeliveryStatus, SmtpProtocolHandler } from '../../src/index.js';
import {
  DKIM_KEYS,
  dkimpyUnavailable,
  dkimpyVerify,
  fixtureRecords,
  mailauthVerify,
} from '../helpers/dkim-verifiers.js';
import {
  availableServers,
  type RealServer,
  type ServerName,
  startServer,
  TEST_DOMAIN,
  toCrlf,
} from './servers/index.js';
import { reportUnavailable } from './unavailable.js';

const records = fixtureRecords();
const rsa = (canonicalization: DkimOptions['canonicalization']): DkimOptions => ({
  domainName: 'example.com',
  keySelector: 'rsa2048',
  privateKey: DKIM_KEYS.rsa2048,
  canonicalization,
});
const ed = (canonicalization: DkimOptions['canonicalization']): DkimOptions => ({
  domainName: 'example.com',
  keySelector: 'ed25519',
  privateKey: DKIM_KEYS.ed25519,
  canonicalization,
});

const availability = (await availableServers()).filter((e) => e.name === 'postfix' || e.name === 'aiosmtpd');
const dkimpyMissing = await dkimpyUnavailable();
if (dkimpyMissing !== null) {
  describe('dkimpy', () =>
    reportUnavailable({ name: 'dkimpy' as ServerName, available: false, reason: dkimpyMissing }));
}

for (const entry of availability) {
  describe(`DKIM through ${entry.name}`, () => {
    if (!entry.available) {
      reportUnavailable(entry);
      return;
    }
    let server: RealServer;
    let handler: SmtpProtocolHandler;

    beforeAll(async () => {
      server = await startServer(entry.name);
      handler = new SmtpProtocolHandler({
        hostname: server.host,
        port: server.port,
        encryption: 'none',
        fromAddress: '"Sender Ünïcode" <sender@example.com>',
        poolSize: 1,
        retryPolicy: { maxRetries: 0 },
        dkim: [rsa('relaxed/relaxed'), ed('relaxed/relaxed')],
      });
    });
    afterAll(async () => {
      await handler?.close();
      await server?.stop();
    });

    it('every signature still verifies as delivered (mailauth and dkimpy)', async () => {
      const to = [`bob@${TEST_DOMAIN}`];
      const sends = [
        handler.sendMessage({
          toAddresses: to,
          subject: `Grüße — a long subject that has to be folded ${'over several lines '.repeat(4)}`,
          textBody: 'trailing whitespace   \n\tindented\n.leading dot\n\n\n',
          htmlBody: '<p>Hello <b>world</b></p>',
          attachments: [{ filename: 'data.bin', content: Buffer.alloc(40_000, 7) }],
        }),
        handler.sendMessage({
          toAddresses: to,
          subject: 'simple/simple, RSA only',
          textBody: 'Body with  double  spaces  \n',
          dkim: rsa('simple/simple'),
        }),
        handler.sendMessage({ toAddresses: to, subject: 'empty body', textBody: '', dkim: ed('simple/relaxed') }),
        handler.sendRaw(
          { from: 'sender@example.com', to },
          Readable.from([
            'From: sender@example.com\nTo: bob@test.example\nSubject: raw stream\nMessage-ID: <raw-1@example.com>\n',
            '\nbare LF lines  \n  \n.dot\n',
          ]),
          { dkim: [ed('relaxed/simple'), rsa('simple/relaxed')] },
        ),
      ];
      for (const result of await Promise.all(sends))
        expect(result.status, result.smtpError ?? '').toBe(SmtpDeliveryStatus.SUCCESS);
      const delivered = await server.waitForMessages(sends.length, 20_000);
      const messages = delivered.map((d) => (d.lineEnding === 'lf' ? toCrlf(d.raw) : d.raw));
      const counts = [2, 1, 1, 2];
      // Whatever trace headers the server adds stay in (they are not signed): the message as a mailbox sees it.
      for (const m of messages) {
        for (const h of server.addedHeaders) expect(m.toString('latin1')).toMatch(new RegExp(`^${h}:`, 'im'));
      }
      for (const m of messages) {
        const n = (m.toString('latin1').match(/^DKIM-Signature:/gm) ?? []).length;
        expect(counts).toContain(n);
        expect(await mailauthVerify(m, records), m.toString('latin1').slice(0, 2000)).toEqual(new Array(n).fill(true));
      }
      if (dkimpyMissing === null) {
        const results = await dkimpyVerify(messages, records);
        for (const [i, res] of results.entries()) {
          expect(res.length).toBeGreaterThan(0);
          expect(res.every(Boolean), `dkimpy, message ${i}`).toBe(true);
        }
      }
    });
  });
}
