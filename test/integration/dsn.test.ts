/**
 * DSN (RFC 3461) from the main API: `dsn` on sendMessage, on sendRaw's envelope, refused locally when the server
 * does not offer DSN unless `ifUnsupported: 'send-without'`, against the scripted server (which records the MAIL and
 * RCPT parameters it got). Outbox jobs: test/integration/outbox-transient.test.ts; real servers: test/conformance/dsn.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

let server: ScriptedSmtpServer | undefined;
let handler: SmtpProtocolHandler | undefined;
afterEach(async () => {
  await handler?.close();
  await server?.close();
  handler = undefined;
});

async function setup(dsn: boolean) {
  server = await startScriptedServer(dsn ? { capabilities: (d) => [...d, 'DSN'] } : {});
  handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none' });
  return handler;
}

const msg = { fromAddress: 'from@x.example', toAddresses: ['a@x.example', 'b@x.example'], subject: 's', textBody: 'b' };
const raw = 'From: from@x.example\r\nTo: a@x.example\r\nSubject: raw\r\n\r\nbody\r\n';
const DSN = { ret: 'HDRS', envid: 'order 17+x', notify: ['FAILURE', 'DELAY'], orcpt: true } as const;

describe('DSN on sendMessage and sendRaw', () => {
  it('sendMessage sends RET and ENVID on MAIL, NOTIFY and ORCPT on each RCPT', async () => {
    const h = await setup(true);
    const result = await h.sendMessage({ ...msg, dsn: DSN });
    expect(result.status).toBe('success');
    const m = server!.messages[0]!;
    expect(m.mailParams).toMatchObject({ RET: 'HDRS', ENVID: 'order+2017+2Bx' });
    expect(m.rcptParams).toEqual([
      { NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;a@x.example' },
      { NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;b@x.example' },
    ]);
  });

  it('sendRaw takes it on the envelope', async () => {
    const h = await setup(true);
    const result = await h.sendRaw({ from: 'from@x.example', to: ['a@x.example'], dsn: { notify: ['NEVER'] } }, raw);
    expect(result.status).toBe('success');
    expect(server!.messages[0]!.rcptParams).toEqual([{ NOTIFY: 'NEVER' }]);
  });

  it('a server without DSN: refused before a byte of the transaction is written, unless send-without', async () => {
    const h = await setup(false);
    const refused = await h.sendMessage({ ...msg, dsn: { notify: ['SUCCESS'] } });
    expect(refused).toMatchObject({ status: 'failed', isRetryable: false });
    expect(refused.error?.code).toBe('ERR_SMTP_CAPABILITY');
    expect(server!.sessions.flatMap((s) => s.commands).filter((c) => c.verb === 'MAIL')).toHaveLength(0);
    const raw1 = await h.sendRaw({ from: 'from@x.example', to: ['a@x.example'], dsn: { ret: 'FULL' } }, raw);
    expect(raw1.error?.code).toBe('ERR_SMTP_CAPABILITY');
    const sent = await h.sendMessage({ ...msg, dsn: { notify: ['SUCCESS'], ifUnsupported: 'send-without' } });
    expect(sent.status).toBe('success');
    expect(server!.messages).toHaveLength(1);
    expect(server!.messages[0]!.rcptParams).toEqual([{}, {}]);
  });

  it('a bad dsn value is INVALID with the field named, nothing sent', async () => {
    const h = await setup(true);
    const bad = await h.sendMessage({ ...msg, dsn: { envid: 'a\r\nRSET' } });
    expect(bad.status).toBe('invalid');
    expect(bad.error).toMatchObject({ field: 'dsn.envid' });
    const badRaw = await h.sendRaw(
      { from: 'from@x.example', to: ['a@x.example'], dsn: { notify: ['NEVER', 'SUCCESS'] } } as never,
      raw,
    );
    expect(badRaw.error).toMatchObject({ field: 'envelope.dsn.notify' });
    expect(server!.sessions).toHaveLength(0);
  });
});
