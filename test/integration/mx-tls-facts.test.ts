/**
 * MX delivery reports the TLS of the connection each send used, not of the destination's last handshake:
 * two sends at once over one destination, one connection upgraded with STARTTLS and one that was not
 * offered it (opportunistic: plaintext), each result says what its own session had.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DnsResolver } from '../../src/dns/client.js';
import { type DnsRecord, RecordType } from '../../src/dns/message.js';
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
let handler: SmtpMxHandler | undefined;
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
