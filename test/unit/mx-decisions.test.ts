/**
 * The pure decisions of delivery to a domain (src/mx): MX order and meaning, the TLS plan per host,
 * REQUIRETLS, MTA-STS parsing / matching / caching, DANE matching, TLS-RPT, and the combined result.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { DnsResolver } from '../../src/dns/client.js';
import { SmtpDeliveryStatus } from '../../src/enums.js';
import { DnsError, ErrorCodes } from '../../src/errors.js';
import { associationData, tlsaRequirement, verifyDane } from '../../src/mx/dane.js';
import {
  cacheDecision,
  MemoryStsCache,
  MtaSts,
  mxMatches,
  parseStsPolicy,
  parseStsTxt,
  type StsPolicy,
} from '../../src/mx/mta-sts.js';
import { decideTls, policyType } from '../../src/mx/policy.js';
import { requireTlsPlan } from '../../src/mx/requiretls.js';
import { mxTargets, orderMx, resolveMx } from '../../src/mx/resolve.js';
import { combineResults, type DomainOutcome } from '../../src/mx/results.js';
import { buildReport, MAX_FAILURE_GROUPS, parseTlsRptTxt, TlsRptCollector } from '../../src/mx/tls-rpt.js';
import { DeliveryResult } from '../../src/send/result.js';

const pem = (f: string) => readFileSync(new URL(`../../fixtures/certs/${f}`, import.meta.url), 'utf8');
const der = (f: string) => new X509Certificate(pem(f)).raw;
const mx = (preference: number, exchange: string) => ({
  name: 'd.example',
  class: 1,
  ttl: 60,
  type: 15 as const,
  preference,
  exchange,
});

describe('MX resolution decisions (RFC 5321 §5.1, RFC 7505)', () => {
  it('orders by preference and shuffles only among equals', () => {
    const recs = [
      { preference: 20, n: 'c' },
      { preference: 10, n: 'a' },
      { preference: 10, n: 'b' },
    ];
    const low = orderMx(recs, () => 0).map((r) => r.n);
    expect(low.at(-1)).toBe('c');
    const seen = new Set<string>();
    let i = 0;
    const alternating = () => (i++ % 2 === 0 ? 0.9 : 0.1);
    for (let k = 0; k < 4; k++)
      seen.add(
        orderMx(recs, alternating)
          .slice(0, 2)
          .map((r) => r.n)
          .join(),
      );
    expect([...seen].sort()).toEqual(['a,b', 'b,a']);
  });

  it.each([
    [
      'MX records',
      { rcode: 'NOERROR' as const, records: [mx(20, 'b.example'), mx(10, 'A.example.')] },
      ['a.example', 'b.example'],
    ],
    ['no MX: the implicit MX is the domain', { rcode: 'NOERROR' as const, records: [] }, ['d.example']],
    [
      'null MX beside real ones is ignored',
      { rcode: 'NOERROR' as const, records: [mx(0, ''), mx(10, 'a.example')] },
      ['a.example'],
    ],
    [
      'duplicates once',
      { rcode: 'NOERROR' as const, records: [mx(10, 'a.example'), mx(20, 'a.example')] },
      ['a.example'],
    ],
  ])('%s', (_, answer, hosts) => {
    expect(mxTargets('d.example', answer, () => 0.5).map((t) => t.host)).toEqual(hosts);
  });

  it.each([
    ['a null MX', { rcode: 'NOERROR' as const, records: [mx(0, '')] }],
    ['NXDOMAIN', { rcode: 'NXDOMAIN' as const, records: [] }],
  ])('%s: permanent ERR_SMTP_NO_MAIL_DOMAIN', (_, answer) => {
    try {
      mxTargets('d.example', answer);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DnsError);
      expect((err as DnsError).code).toBe(ErrorCodes.NO_MAIL_DOMAIN);
      expect((err as DnsError).temporary).toBe(false);
    }
  });
});

describe('resolveMx', () => {
  it('a failing AAAA lookup does not make a validated host insecure (blocking it must not switch DANE off)', async () => {
    const resolver = {
      lookup: async (name: string, type: number) => {
        if (type === 15) return { rcode: 'NOERROR', records: [mx(10, 'mx.d.example')], authenticated: true };
        if (type === 28) throw new DnsError('AAAA: no answer', { temporary: true });
        return {
          rcode: 'NOERROR',
          records: [{ name, class: 1, ttl: 60, type: 1, address: '192.0.2.1' }],
          authenticated: true,
        };
      },
    } as unknown as DnsResolver;
    const r = await resolveMx(resolver, 'd.example');
    expect(r.secure).toBe(true);
    expect(r.hosts).toEqual([
      { host: 'mx.d.example', preference: 10, implicit: false, addresses: ['192.0.2.1'], secure: true, error: null },
    ]);
  });
});

const enforce: StsPolicy = { mode: 'enforce', mx: ['mx.d.example', '*.backup.example'], maxAge: 86400, text: '' };
const testing: StsPolicy = { ...enforce, mode: 'testing' };
const none = { kind: 'none' as const, reason: '' };
const ee = { usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32) };

describe('the TLS plan per MX host', () => {
  it.each([
    ['no policy: opportunistic', none, null, 'mx.d.example', 'opportunistic'],
    ['enforce, listed: pkix', none, enforce, 'mx.d.example', 'pkix'],
    ['enforce, wildcard listed: pkix', none, enforce, 'a.backup.example', 'pkix'],
    ['enforce, wildcard is one label only', none, enforce, 'a.b.backup.example', 'refuse'],
    ['enforce, not listed: refused', none, enforce, 'rogue.example', 'refuse'],
    ['testing, not listed: delivered (reported)', none, testing, 'rogue.example', 'opportunistic'],
    ['DANE overrides MTA-STS', { kind: 'authenticate' as const, records: [ee] }, enforce, 'rogue.example', 'dane'],
    ['DANE records none usable: encrypt', { kind: 'encrypt' as const, records: [] }, null, 'mx.d.example', 'encrypt'],
    ['none usable + testing: encrypt', { kind: 'encrypt' as const, records: [] }, testing, 'mx.d.example', 'encrypt'],
    // Unusable TLSA authenticates nothing: an enforce policy still checks the MX and its certificate.
    ['none usable + enforce: pkix', { kind: 'encrypt' as const, records: [] }, enforce, 'mx.d.example', 'pkix'],
    [
      'none usable + enforce, not listed',
      { kind: 'encrypt' as const, records: [] },
      enforce,
      'rogue.example',
      'refuse',
    ],
  ])('%s', (_, dane, sts, host, kind) => {
    expect(decideTls({ domain: 'd.example', mxHost: host, dane, sts }).kind).toBe(kind);
  });

  it.each([
    ['usable DANE', { kind: 'authenticate' as const, records: [ee] }, enforce, 'tlsa'],
    ['unusable TLSA under enforce', { kind: 'encrypt' as const, records: [] }, enforce, 'sts'],
    ['unusable TLSA under testing', { kind: 'encrypt' as const, records: [] }, testing, 'tlsa'],
    ['testing alone', none, testing, 'sts'],
    ['nothing', none, null, 'no-policy-found'],
  ])('the reported policy is the applied one: %s → %s', (_, dane, sts, type) => {
    expect(policyType({ domain: 'd.example', mxHost: 'mx.d.example', dane, sts })).toBe(type);
  });

  it('an enforce refusal names the host and is ERR_SMTP_TLS_POLICY', () => {
    const p = decideTls({ domain: 'd.example', mxHost: 'rogue.example', dane: none, sts: enforce });
    expect(p.kind === 'refuse' && p.error.code).toBe(ErrorCodes.TLS_POLICY);
    expect(p.kind === 'refuse' && p.error.message).toMatch(/rogue\.example/);
  });
});

describe('REQUIRETLS (RFC 8689 §4.1)', () => {
  const base = { domain: 'd.example', mxHost: 'mx.d.example', mxSecure: false, sts: null };
  it.each([
    [
      'opportunistic is refused',
      { kind: 'opportunistic' as const, report: false, reportedFailure: null },
      base,
      'refuse',
    ],
    ['encrypt (unusable TLSA) is refused', { kind: 'encrypt' as const }, { ...base, mxSecure: true }, 'refuse'],
    ['pkix stays', { kind: 'pkix' as const }, base, 'pkix'],
    ['DANE with a validated MX stays', { kind: 'dane' as const, records: [ee] }, { ...base, mxSecure: true }, 'dane'],
    ['DANE behind an unvalidated MX, no STS: refused', { kind: 'dane' as const, records: [ee] }, base, 'refuse'],
    [
      'STS testing with a listed MX becomes pkix',
      { kind: 'opportunistic' as const, report: true, reportedFailure: null },
      { ...base, sts: testing },
      'pkix',
    ],
  ])('%s', (_, plan, input, kind) => {
    const out = requireTlsPlan(plan, input);
    expect(out.kind).toBe(kind);
    if (out.kind === 'refuse') expect(out.error.code).toBe(ErrorCodes.REQUIRETLS);
  });
});

describe('MTA-STS (RFC 8461)', () => {
  it.each([
    [[['v=STSv1; id=20160831085700Z;']], '20160831085700Z'],
    [[['v=STSv1;', ' id=abc']], 'abc'],
    [[['v=STSv1; id=a'], ['v=STSv1; id=b']], null],
    [[['v=spf1 -all']], null],
    [[['v=STSv1; id=bad-id!']], null],
  ])('TXT %j → %s', (records, id) => {
    expect(parseStsTxt(records)).toBe(id);
  });

  it('parses a policy, LF or CRLF, several mx lines, max_age capped', () => {
    const p = parseStsPolicy(
      'version: STSv1\nmode: enforce\nmx: MX1.Example.com\r\nmx: *.example.net\nmax_age: 9999999999\n',
    );
    expect(p).toMatchObject({ mode: 'enforce', mx: ['mx1.example.com', '*.example.net'], maxAge: 31_557_600 });
  });

  it.each([
    ['version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1', /version/],
    ['version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1', /mode/],
    ['version: STSv1\nmode: enforce\nmax_age: 1', /mx/],
    ['version: STSv1\nmode: enforce\nmx: a.example', /max_age/],
    ['<html>', /malformed/],
  ])('refuses %j', (text, why) => {
    expect(() => parseStsPolicy(text)).toThrow(why);
  });

  it('matches exact names and one-label wildcards, case-insensitively', () => {
    expect(mxMatches(['*.example.com'], 'MX.example.com')).toBe(true);
    expect(mxMatches(['*.example.com'], 'example.com')).toBe(false);
    expect(mxMatches(['*.example.com'], 'a.b.example.com')).toBe(false);
    expect(mxMatches(['mail.example.com'], 'mail.example.com.')).toBe(true);
  });

  it.each([
    ['no TXT, nothing cached', null, undefined, 'none'],
    ['no TXT, fresh cache kept (absence is not removal)', null, { id: 'a', expiresAt: 2000 }, 'use-cache'],
    ['TXT lookup failed, fresh cache kept', 'unavailable', { id: 'a', expiresAt: 2000 }, 'use-cache'],
    ['same id, fresh: cache', 'a', { id: 'a', expiresAt: 2000 }, 'use-cache'],
    ['id changed: fetch', 'b', { id: 'a', expiresAt: 2000 }, 'fetch'],
    ['expired: fetch', 'a', { id: 'a', expiresAt: 500 }, 'fetch'],
    ['expired and no TXT: none', null, { id: 'a', expiresAt: 500 }, 'none'],
  ] as const)('%s', (_, txt, cached, decision) => {
    const entry = cached ? { ...cached, policy: enforce } : undefined;
    expect(cacheDecision(txt, entry, 1000)).toBe(decision);
  });

  it('policyFor uses the cache while the TXT id is unchanged and max_age holds (no fetch)', async () => {
    const txt = (id: string) => ({
      rcode: 'NOERROR',
      records: [{ type: 16, strings: [`v=STSv1; id=${id}`] }],
      authenticated: false,
    });
    let id = 'one';
    const resolver = { lookup: async () => txt(id) } as unknown as DnsResolver;
    const cache = new MemoryStsCache();
    let now = 1_000_000;
    cache.set('d.example', { policy: enforce, id: 'one', expiresAt: now + 1000 });
    // The fetch goes to an unresolvable host: it fails, so a fetched policy cannot be mistaken for the cache.
    const sts = new MtaSts({ resolver, cache, now: () => now, fetch: { timeout: 200 } });
    expect(await sts.policyFor('d.example')).toMatchObject({ source: 'cache', id: 'one' });
    id = 'two';
    const changed = await sts.policyFor('d.example');
    expect(changed).toMatchObject({ source: 'cache', id: 'one' });
    expect(changed.fetchError).not.toBeNull();
    now += 2000;
    expect(await sts.policyFor('d.example')).toMatchObject({ source: 'none', policy: null });
  });

  it('policyFor rejects with AbortError when aborted mid-fetch (not a fetch failure that fails open)', async () => {
    // A policy host that accepts the connection and never answers the TLS handshake.
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const resolver = {
        lookup: async (_name: string, type: number) =>
          type === 16
            ? { rcode: 'NOERROR', records: [{ type: 16, strings: ['v=STSv1; id=one'] }], authenticated: false }
            : { rcode: 'NOERROR', records: [{ type: 1, address: '127.0.0.1' }], authenticated: false },
      } as unknown as DnsResolver;
      const port = (silent.address() as AddressInfo).port;
      const sts = new MtaSts({ resolver, fetch: { port, timeout: 5000 } });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await expect(sts.policyFor('d.example', { signal: controller.signal })).rejects.toMatchObject({
        code: ErrorCodes.ABORTED,
      });
    } finally {
      silent.close();
    }
  });
});

describe('DANE matching (RFC 7672, RFC 6698)', () => {
  const leaf = der('server.pem');
  const ca = der('ca.pem');
  const rec = (usage: number, selector: number, matchingType: number, cert: Buffer) => ({
    usage,
    selector,
    matchingType,
    data: associationData(cert, selector, matchingType),
  });

  it.each([
    ['DANE-EE SPKI SHA-256', [rec(3, 1, 1, leaf)], 'whatever.example', true],
    ['DANE-EE full cert SHA-512', [rec(3, 0, 2, leaf)], 'whatever.example', true],
    ['DANE-EE full cert, exact', [rec(3, 0, 0, leaf)], 'whatever.example', true],
    ['DANE-EE of another key', [rec(3, 1, 1, ca)], 'localhost', false],
    ['DANE-TA on the CA, name matches', [rec(2, 0, 1, ca)], 'localhost', true],
    ['DANE-TA on the CA, SPKI', [rec(2, 1, 1, ca)], 'localhost', true],
    ['DANE-TA on the CA, wrong name', [rec(2, 0, 1, ca)], 'mx.other.example', false],
    ['DANE-TA naming the leaf is not a trust anchor', [rec(2, 0, 1, leaf)], 'localhost', false],
  ])('%s', (_, records, host, ok) => {
    expect(verifyDane([leaf, ca], records, host) === null).toBe(ok);
  });

  it('DANE-TA needs the anchor in the chain the server sent', () => {
    expect(verifyDane([leaf], [rec(2, 0, 1, ca)], 'localhost')).toMatch(/no certificate/);
  });

  it('SHA-256 of the SPKI is what `openssl … | sha256` gives', () => {
    const spki = new X509Certificate(pem('server.pem')).publicKey.export({ type: 'spki', format: 'der' });
    expect(associationData(leaf, 1, 1).toString('hex')).toBe(createHash('sha256').update(spki).digest('hex'));
  });

  it.each([
    ['unvalidated records: no DANE', { authenticated: false, rcode: 'NOERROR', records: [ee] }, 'none'],
    ['no records: no DANE', { authenticated: true, rcode: 'NXDOMAIN', records: [] }, 'none'],
    [
      'only PKIX-EE(1): TLS required, unauthenticated',
      { authenticated: true, rcode: 'NOERROR', records: [{ ...ee, usage: 1 }] },
      'encrypt',
    ],
    [
      'DANE-EE: authenticate',
      { authenticated: true, rcode: 'NOERROR', records: [ee, { ...ee, usage: 1 }] },
      'authenticate',
    ],
  ])('%s', (_, answer, kind) => {
    expect(tlsaRequirement(answer).kind).toBe(kind);
  });
});

describe('TLS-RPT (RFC 8460)', () => {
  it.each([
    [[['v=TLSRPTv1; rua=mailto:r@d.example,https://r.d.example/v1']], ['mailto:r@d.example', 'https://r.d.example/v1']],
    [[['v=TLSRPTv1;rua=ftp://x']], null],
    [[['v=TLSRPTv1; rua=mailto:a@x'], ['v=TLSRPTv1; rua=mailto:b@x']], null],
  ])('TXT %j', (records, rua) => {
    expect(parseTlsRptTxt(records)).toEqual(rua);
  });

  it('counts sessions per policy and groups failures', () => {
    const s = {
      domain: 'd.example',
      policyType: 'sts' as const,
      policyStrings: ['mode: testing'],
      mxHost: 'mx.d.example',
      receivingIp: '192.0.2.1',
      sendingIp: null,
    };
    const report = buildReport(
      [
        { ...s, failure: null },
        { ...s, failure: 'certificate-expired' },
        { ...s, failure: 'certificate-expired' },
      ],
      { organizationName: 'o', contactInfo: 'c', reportId: 'id', start: new Date(0), end: new Date(1000) },
    );
    expect(report).toMatchObject({
      'organization-name': 'o',
      'date-range': { 'start-datetime': '1970-01-01T00:00:00.000Z', 'end-datetime': '1970-01-01T00:00:01.000Z' },
      policies: [
        {
          policy: { 'policy-type': 'sts', 'policy-domain': 'd.example', 'mx-host': ['mx.d.example'] },
          summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 2 },
          'failure-details': [
            { 'result-type': 'certificate-expired', 'receiving-ip': '192.0.2.1', 'failed-session-count': 2 },
          ],
        },
      ],
    });
  });

  it('the collector counts every session (none dropped) and keeps at most MAX_FAILURE_GROUPS failure rows', () => {
    const s = {
      domain: 'd.example',
      policyType: 'sts' as const,
      policyStrings: ['mode: testing'],
      mxHost: 'mx.d.example',
      receivingIp: '192.0.2.1',
      sendingIp: null,
      failure: null,
    };
    const collector = new TlsRptCollector();
    const sessions = 150_000;
    for (let i = 0; i < sessions; i++) collector.record(s);
    // Failures from more distinct receiving IPs than there are failure rows.
    const failed = MAX_FAILURE_GROUPS + 10;
    for (let i = 0; i < failed; i++)
      collector.record({ ...s, failure: 'certificate-expired', receivingIp: `10.0.${i >> 8}.${i & 255}` });
    collector.record({ ...s, domain: 'other.example' });
    expect(collector.sessionCount).toBe(sessions + failed + 1);
    expect(collector.domains()).toEqual(['d.example', 'other.example']);
    const meta = { organizationName: 'o', contactInfo: 'c', reportId: 'id', start: new Date(0), end: new Date(1000) };
    const report = collector.report('D.example.', meta) as {
      policies: { summary: Record<string, number>; 'failure-details': unknown[] }[];
    };
    expect(report.policies).toHaveLength(1);
    expect(report.policies[0]!.summary).toEqual({
      'total-successful-session-count': sessions,
      'total-failure-session-count': failed,
    });
    expect(report.policies[0]!['failure-details']).toHaveLength(MAX_FAILURE_GROUPS);
    collector.clear();
    expect(collector.sessionCount).toBe(0);
    expect(collector.report('d.example', meta)).toMatchObject({ policies: [] });
  });
});

describe('one result for several domains', () => {
  const outcome = (
    domain: string,
    recipients: string[],
    status: SmtpDeliveryStatus,
    extra: Partial<ConstructorParameters<typeof DeliveryResult>[0]> = {},
  ): DomainOutcome => ({
    domain,
    recipients,
    result: new DeliveryResult({
      status,
      messageId: '<m@x>',
      isRetryable: status === 'temp_failed',
      smtpError: status === 'success' ? null : `${status} at ${domain}`,
      acceptedRecipients: status === 'success' || status === 'unknown' ? recipients : [],
      // As decide.ts reports them: a SUCCESS names whom the message reached.
      deliveredRecipients: status === 'success' ? recipients : [],
      ...extra,
    }),
    mxHost: null,
    address: null,
    tls: null,
  });

  it('delivered here, temporary there: SUCCESS, not retryable, resend only to the temporary ones', () => {
    const r = combineResults('<m@x>', [
      outcome('a.example', ['x@a.example'], SmtpDeliveryStatus.SUCCESS),
      outcome('b.example', ['y@b.example'], SmtpDeliveryStatus.TEMP_FAILED),
    ]);
    expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(r.isRetryable).toBe(false);
    expect(r.acceptedRecipients).toEqual(['x@a.example']);
    expect(r.recipientFailures).toEqual({ 'y@b.example': 'temp_failed at b.example' });
    expect(r.retryRecipients).toEqual(['y@b.example']);
    expect(r.pendingRecipients).toEqual(r.retryRecipients);
    expect(r.recipients['y@b.example']).toMatchObject({ status: 'temp_failed', domain: 'b.example' });
  });

  it('a 451 to the dot at one domain: its recipients accepted at RCPT are not delivered, and are resent to', () => {
    const r = combineResults('<m@x>', [
      outcome('a.example', ['x@a.example'], SmtpDeliveryStatus.SUCCESS),
      // RCPT accepted, the dot answered 451, no attempts left: accepted, never delivered.
      outcome('b.example', ['y@b.example'], SmtpDeliveryStatus.TEMP_FAILED, { acceptedRecipients: ['y@b.example'] }),
    ]);
    expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(r.deliveredRecipients).toEqual(['x@a.example']);
    expect(r.acceptedRecipients).toEqual(['x@a.example']);
    expect(r.recipients['y@b.example']).toMatchObject({ status: 'temp_failed', error: 'temp_failed at b.example' });
    expect(r.recipientFailures).toEqual({ 'y@b.example': 'temp_failed at b.example' });
    expect(r.retryRecipients).toEqual(['y@b.example']);
  });

  it('an UNKNOWN domain: its accepted recipients may have it, those it delivered to did', () => {
    const r = combineResults('<m@x>', [
      outcome('a.example', ['x@a.example', 'z@a.example'], SmtpDeliveryStatus.UNKNOWN, {
        deliveredRecipients: ['x@a.example'],
      }),
    ]);
    expect(r.status).toBe(SmtpDeliveryStatus.UNKNOWN);
    expect(r.recipients['x@a.example']?.status).toBe('success');
    expect(r.recipients['z@a.example']?.status).toBe('unknown');
    expect(r.acceptedRecipients).toEqual(['x@a.example', 'z@a.example']);
    expect(r.retryRecipients).toEqual([]);
    expect(r.pendingRecipients).toEqual([]);
  });

  it.each([
    ['any UNKNOWN wins', ['unknown', 'success'], 'unknown'],
    ['all temporary: TEMP_FAILED, retryable', ['temp_failed', 'failed'], 'temp_failed'],
    ['all rejected: REJECTED', ['rejected', 'rejected'], 'rejected'],
    ['rejected and failed: FAILED', ['rejected', 'failed'], 'failed'],
    ['all invalid: INVALID', ['invalid', 'invalid'], 'invalid'],
  ] as const)('%s', (_, statuses, expected) => {
    const r = combineResults(
      '<m@x>',
      statuses.map((s, i) => outcome(`d${i}.example`, [`u@d${i}.example`], s)),
    );
    expect(r.status).toBe(expected);
    expect(r.isRetryable).toBe(expected === 'temp_failed');
  });
});
