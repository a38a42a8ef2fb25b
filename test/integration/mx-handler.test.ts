/**
 * Delivery to a domain against a scripted server and a table resolver (no DNS lab needed):
 * - the TLS each result reports is that of the connection the send used, not of the destination's last
 *   handshake (two sends at once, one session upgraded with STARTTLS, one not offered it);
 * - `new SmtpProtocolHandler({ transport: 'mx' })` is the same delivery through the main class.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DnsResolver } from '../../src/dns/client.js';
import { type DnsRecord, RecordType } from '../../src/dns/message.js';
import { SmtpProtocolHandler } from '../../src/index.js';
import { SmtpMxHandler } from '../../src/mx/handler.js';
import type { MxDeliveryResult } from '../../src/mx/results.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

/** mx.d.example at 127.0.0.1, nothing else published. Never sends a packet. */
class TableResolver extends DnsResolver {
  constructor() {
    super({ servers: ['127.0.0.1'] });
  }
  override async lookup<R extends DnsRecord = DnsRecord>(name: string, type: number) {
    const table: Record<string, DnsRecord[]> = {
      [`d.example ${RecordType.MX}`]: [
        { name: 'd.example', class: 1, ttl: 60, type: RecordType.MX, preference: 10, exchange: 'mx.d.example' },
      ] as DnsRecord[],
      [`mx.d.example ${RecordType.A}`]: [
        { name: 'mx.d.example', class: 1, ttl: 60, type: RecordType.A, address: '127.0.0.1' },
      ] as DnsRecord[],
    };
    const records = table[`${name} ${type}`];
    return {
      name,
      rcode: records || name === 'mx.d.example' ? ('NOERROR' as const) : ('NXDOMAIN' as const),
      records: (records ?? []) as R[],
      canonical: name,
      authenticated: false,
    };
  }
}

let server: ScriptedSmtpServer | undefined;
let handler: SmtpMxHandler | SmtpProtocolHandler | undefined;
afterEach(async () => {
  await handler?.close();
  await server?.close();
});

describe('MX delivery: TLS facts per connection', () => {
  it('two sends at once, one session with STARTTLS and one without: each result has its own', async () => {
    let ehlos = 0;
    server = await startScriptedServer({
      tls: true,
      // Only the first EHLO offers STARTTLS: one session upgrades, the other stays in plaintext.
      capabilities: (defaults) => (++ehlos === 1 ? defaults : defaults.filter((k) => k !== 'STARTTLS')),
      // Both sends must hold their own connection at once.
      script: [{ on: 'DATA_END', delay: 300 }],
    });
    handler = new SmtpMxHandler({
      transport: 'mx',
      resolver: new TableResolver(),
      port: server.port,
      poolSize: 2,
      ipv6: false,
      mtaSts: false,
      fromAddress: 'a@sender.example',
      retryPolicy: { maxRetries: 0 },
    });
    const send = () =>
      handler!.sendMessage({ toAddresses: ['b@d.example'], subject: 's', textBody: 'x' }) as Promise<MxDeliveryResult>;
    const results = await Promise.all([send(), send()]);
    expect(results.map((r) => r.status)).toEqual(['success', 'success']);
    expect(server.sessions.map((s) => s.tls)).toEqual(expect.arrayContaining([true, false]));
    const versions = results.map((r) => r.domains[0]!.tls?.version ?? null).sort();
    expect(versions).toEqual([expect.stringMatching(/^TLSv1\.[23]$/), null]);
  });
});

describe("new SmtpProtocolHandler({ transport: 'mx' })", () => {
  it('delivers to the domain through an SmtpMxHandler: the same sendMessage / sendRaw, MX results', async () => {
    server = await startScriptedServer({ tls: true });
    const h = new SmtpProtocolHandler({
      transport: 'mx',
      resolver: new TableResolver(),
      port: server.port,
      ipv6: false,
      mtaSts: false,
      fromAddress: 'a@sender.example',
      retryPolicy: { maxRetries: 0 },
    });
    handler = h;
    expect(h.mx).toBeInstanceOf(SmtpMxHandler);
    const r = (await h.sendMessage({ toAddresses: ['b@d.example'], subject: 's', textBody: 'x' })) as MxDeliveryResult;
    expect(r.status).toBe('success');
    expect(r.domains[0]).toMatchObject({ domain: 'd.example', mxHost: 'mx.d.example', address: '127.0.0.1' });
    const raw = await h.sendRaw({ from: 'a@sender.example', to: ['c@d.example'] }, 'Subject: r\r\n\r\nbody\r\n');
    expect(raw.status).toBe('success');
    expect(server.messages.map((m) => m.rcptTo)).toEqual([['b@d.example'], ['c@d.example']]);
    // No single server to connect to: false, with the reason.
    expect(await h.testConnection()).toBe(false);
    expect(h.lastError?.code).toBe('ERR_SMTP_INVALID_STATE');
    expect(h.mx?.tlsRpt.domains()).toEqual(['d.example']);
    await h.close();
    await expect(h.sendMessage({ toAddresses: ['b@d.example'], subject: 's', textBody: 'x' })).rejects.toThrow(
      /closed/,
    );
  });

  it('its options are checked as SmtpMxHandler checks them', () => {
    expect(() => new SmtpProtocolHandler({ transport: 'mx', poolSize: 0 })).toThrow(/poolSize/);
    expect(() => new SmtpProtocolHandler({ transport: 'mx', hostname: 'x' } as never)).toThrow(/hostname/);
  });
});
