/** The domain scan claims only what its lookups showed. */
import { describe, expect, it } from 'vitest';
import { conformDomain } from '../../src/conform/domain/index.js';
import { DnsResolver } from '../../src/dns/client.js';
import { type DnsRecord, RecordType } from '../../src/dns/message.js';
import { DnsError } from '../../src/errors.js';

/** Answers from a table; a name mapped to an Error fails its lookup. Never sends a packet. */
class TableResolver extends DnsResolver {
  /** Every lookup asked, as `name type`. */
  readonly asked: string[] = [];
  constructor(readonly table: Record<string, DnsRecord[] | Error>) {
    super({ servers: ['127.0.0.1'] });
  }
  override async lookup<R extends DnsRecord = DnsRecord>(name: string, type: number) {
    this.asked.push(`${name} ${type}`);
    const entry = this.table[`${name} ${type}`];
    if (entry instanceof Error) throw entry;
    return {
      name,
      rcode: entry ? ('NOERROR' as const) : ('NXDOMAIN' as const),
      records: (entry ?? []) as R[],
      canonical: name,
      authenticated: false,
    };
  }
}

describe('conformDomain', () => {
  it('a failed _mta-sts TXT lookup is reported as such, not as "no MTA-STS record"', async () => {
    const resolver = new TableResolver({
      [`d.example ${RecordType.MX}`]: [
        { name: 'd.example', class: 1, ttl: 60, type: RecordType.MX, preference: 10, exchange: 'mx.d.example' },
      ] as DnsRecord[],
      [`_mta-sts.d.example ${RecordType.TXT}`]: new DnsError('DNS lookup of _mta-sts.d.example failed: SERVFAIL', {
        temporary: true,
        rcode: 'SERVFAIL',
      }),
    });
    const report = await conformDomain({ domain: 'd.example', resolver, timeout: 1000 });
    const sts = report.findings.find((f) => f.id === 'mta-sts-policy');
    expect(sts).toMatchObject({ status: 'warn', reason: expect.stringMatching(/could not be looked up.*SERVFAIL/) });
    expect(sts?.reason).not.toMatch(/no MTA-STS record/);
    // The summary counts every finding (the runner's summarize): the MX host without an address fails.
    expect(report.summary).toMatchObject({ total: report.findings.length, status: 'fail' });
    expect(report.summary.fail).toBe(report.findings.filter((f) => f.status === 'fail').length);
    // The MX records are looked up once (the MX checks and the host resolution share the answer).
    expect(resolver.asked.filter((q) => q === `d.example ${RecordType.MX}`)).toHaveLength(1);
  });
});
