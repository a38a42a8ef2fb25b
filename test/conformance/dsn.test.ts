/**
 * DSN (RFC 3461) from sendMessage / sendRaw against real servers: Postfix offers DSN and must accept RET, ENVID,
 * NOTIFY and ORCPT as sent (a malformed parameter gets 501 there); a server without DSN (aiosmtpd, smtp-server)
 * gets nothing but a local refusal, or the message without the parameters with `ifUnsupported: 'send-without'`.
 *
 * An unavailable server is skipped with a loud banner, or fails the suite when realServersRequired().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler, type TranscriptEntry } from '../../src/index.js';
import { availableServers, type RealServer, SERVER_NAMES, startServer, TEST_DOMAIN } from './servers/index.js';
import { reportUnavailable } from './unavailable.js';

const availability = await availableServers();
const DSN = { ret: 'HDRS', envid: 'order 17+x', notify: ['SUCCESS', 'FAILURE'], orcpt: true } as const;

for (const name of SERVER_NAMES) {
  const entry = availability.find((a) => a.name === name)!;
  if (!entry.available) {
    describe(`DSN against ${name}`, () => reportUnavailable(entry));
    continue;
  }
  describe(`DSN against ${name}`, () => {
    let server: RealServer;
    let handler: SmtpProtocolHandler;
    const lines: string[] = [];
    beforeAll(async () => {
      server = await startServer(name);
      handler = new SmtpProtocolHandler({
        hostname: server.host,
        port: server.port,
        encryption: 'none',
        onTranscript: (e: TranscriptEntry) => {
          if (e.direction === 'client') lines.push(e.line);
        },
      });
    }, 60_000);
    afterAll(async () => {
      await handler?.close();
      await server?.stop();
    });

    it('sendMessage and sendRaw with dsn: sent with the parameters where DSN is offered, refused locally elsewhere', async () => {
      const offered = name === 'postfix';
      const r1 = await handler.sendMessage({
        fromAddress: 'sender@smtpwire.test',
        toAddresses: [`bob@${TEST_DOMAIN}`],
        subject: 'dsn',
        textBody: 'b',
        dsn: DSN,
      });
      const r2 = await handler.sendRaw(
        { from: 'sender@smtpwire.test', to: [`carol@${TEST_DOMAIN}`], dsn: { notify: ['NEVER'] } },
        `From: sender@smtpwire.test\r\nTo: carol@${TEST_DOMAIN}\r\nSubject: dsn raw\r\n\r\nb\r\n`,
      );
      if (offered) {
        expect([r1.status, r2.status]).toEqual(['success', 'success']);
        expect(lines.find((l) => l.startsWith('MAIL FROM:<sender@smtpwire.test>') && l.includes('RET=HDRS'))).toContain(
          'ENVID=order+2017+2Bx',
        );
        expect(lines).toContain(`RCPT TO:<bob@${TEST_DOMAIN}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@${TEST_DOMAIN}`);
        expect(lines).toContain(`RCPT TO:<carol@${TEST_DOMAIN}> NOTIFY=NEVER`);
        await server.waitForMessages(2);
      } else {
        for (const r of [r1, r2]) expect(r.error?.code).toBe('ERR_SMTP_CAPABILITY');
        expect(lines.filter((l) => l.startsWith('MAIL'))).toEqual([]);
        const r3 = await handler.sendMessage({
          fromAddress: 'sender@smtpwire.test',
          toAddresses: [`bob@${TEST_DOMAIN}`],
          subject: 'dsn dropped',
          textBody: 'b',
          dsn: { ...DSN, ifUnsupported: 'send-without' },
        });
        expect(r3.status).toBe('success');
        const sent = lines.filter((l) => l.startsWith('MAIL') || l.startsWith('RCPT'));
        expect(sent).toHaveLength(2);
        for (const l of sent) expect(l).not.toMatch(/RET=|ENVID=|NOTIFY=|ORCPT=/);
        await server.waitForMessages(1);
      }
    }, 60_000);
  });
}
