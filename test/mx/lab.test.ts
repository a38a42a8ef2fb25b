/**
 * Delivery to a domain against the MX lab (issue 26): real DNSSEC validation (unbound over a zone
 * nsd serves, signed by ldns-signzone), receiving MTAs on 127.0.0.2…8, an MTA-STS HTTPS server.
 * Skips loudly without unbound/nsd/ldnsutils; fails under CI.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformDomainCommand } from '../../src/cli/conform-domain.js';
import { conform } from '../../src/conform/conform.js';
import type { ConformDomainReport } from '../../src/conform/domain/types.js';
import { SmtpDeliveryStatus } from '../../src/enums.js';
import { ErrorCodes } from '../../src/errors.js';
import { SmtpMxHandler, type SmtpMxHandlerOptions } from '../../src/mx/handler.js';
import type { MxDeliveryResult } from '../../src/mx/results.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type Lab, labUnavailable, startLab } from './lab.js';

const missing = labUnavailable();

if (missing) {
  describe('MX lab', () =>
    reportUnavailable({ name: 'MX lab (unbound + nsd + ldnsutils)', available: false, reason: missing }));
} else {
  describe('MX lab', () => {
    let lab: Lab;
    const handlers: SmtpMxHandler[] = [];
    beforeAll(async () => {
      lab = await startLab();
    }, 30_000);
    afterAll(async () => {
      await Promise.all(handlers.map((h) => h.close()));
      await lab?.stop();
    });

    function handler(extra: Partial<SmtpMxHandlerOptions> = {}): SmtpMxHandler {
      const h = new SmtpMxHandler({
        transport: 'mx',
        resolver: { servers: [lab.resolver], trusted: true, timeout: 3000, tries: 2 },
        port: lab.smtpPort,
        clientName: 'sender.lab.test',
        fromAddress: 'sender@origin.lab.test',
        retryPolicy: { maxRetries: 0 },
        timeouts: { connect: 5000, greeting: 5000, tls: 5000, command: 5000, dataIdle: 5000, finalReply: 5000 },
        ipv6: false,
        mtaSts: { port: lab.httpsPort, ca: lab.ca, timeout: 3000 },
        ca: lab.ca,
        ...extra,
      });
      handlers.push(h);
      return h;
    }
    const send = (h: SmtpMxHandler, to: string[], more: { requireTls?: boolean } = {}) =>
      h.sendMessage({ toAddresses: to, subject: 'lab', textBody: 'hello', ...more }) as Promise<MxDeliveryResult>;
    const count = (ip: string) => lab.received(ip);

    it('done when: one message to a plain, an MTA-STS enforce and a DANE domain reaches the right MX hosts with the right TLS', async () => {
      const before = [count('127.0.0.2'), count('127.0.0.4'), count('127.0.0.7')];
      const r = await send(handler(), ['a@plain.lab.test', 'b@sts.lab.test', 'c@dane.lab.test']);
      expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(r.acceptedRecipients.sort()).toEqual(['a@plain.lab.test', 'b@sts.lab.test', 'c@dane.lab.test']);
      const by = Object.fromEntries(r.domains.map((d) => [d.domain, d]));
      expect(by['plain.lab.test']).toMatchObject({
        mxHost: 'mx1.plain.lab.test',
        address: '127.0.0.2',
        tls: { plan: 'opportunistic', authenticated: false },
      });
      expect(by['sts.lab.test']).toMatchObject({
        mxHost: 'mx.sts.lab.test',
        address: '127.0.0.4',
        tls: { plan: 'pkix', authenticated: true },
      });
      expect(by['dane.lab.test']).toMatchObject({
        mxHost: 'mx.dane.lab.test',
        address: '127.0.0.7',
        tls: { plan: 'dane', authenticated: true },
      });
      for (const d of r.domains) expect(d.tls?.version).toMatch(/^TLSv1\.[23]$/);
      expect([count('127.0.0.2'), count('127.0.0.4'), count('127.0.0.7')]).toEqual(before.map((n) => n + 1));
      // Each server saw only its own domain's recipient: one transaction per domain.
      const last = lab.servers.get('127.0.0.7')!.messages.at(-1)!;
      expect(last.rcptTo).toEqual(['c@dane.lab.test']);
    });

    it('sendRaw: the same bytes to two domains, one transaction each', async () => {
      const raw = Buffer.from(
        'From: sender@origin.lab.test\r\nTo: a@plain.lab.test, b@dane.lab.test\r\nSubject: raw\r\nMessage-ID: <raw-1@origin.lab.test>\r\n\r\nbody\r\n',
      );
      const r = (await handler().sendRaw(
        { from: 'sender@origin.lab.test', to: ['a@plain.lab.test', 'b@dane.lab.test'] },
        raw,
      )) as MxDeliveryResult;
      expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(r.messageId).toBe('<raw-1@origin.lab.test>');
      const got2 = lab.servers.get('127.0.0.2')!.messages.at(-1)!;
      const got7 = lab.servers.get('127.0.0.7')!.messages.at(-1)!;
      expect(got2.rcptTo).toEqual(['a@plain.lab.test']);
      expect(got7.rcptTo).toEqual(['b@dane.lab.test']);
      expect(got2.data.equals(raw)).toBe(true);
      expect(got7.data.equals(raw)).toBe(true);
    });

    it('MX preference, then fallback on a refused connection and on a 4xx', async () => {
      const h = handler();
      const before3 = count('127.0.0.3');
      const fb = await send(h, ['x@fallback.lab.test']);
      expect(fb.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(fb.domains[0]).toMatchObject({ mxHost: 'mx.fallback.lab.test', address: '127.0.0.3' });
      const tf = await send(h, ['x@tempfail.lab.test']);
      expect(tf.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(tf.domains[0]).toMatchObject({ mxHost: 'mx.tempfail.lab.test' });
      expect(count('127.0.0.3')).toBe(before3 + 2);
      expect(count('127.0.0.8')).toBe(0);
    });

    it('EHLO name and source address are the ones configured', async () => {
      const h = handler({ localAddress: '127.0.0.9', clientName: 'mta.origin.lab.test' });
      const r = await send(h, ['x@implicit.lab.test']);
      expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
      const session = lab.servers.get('127.0.0.2')!.sessions.at(-1)!;
      expect(session.remoteAddress.replace(/^::ffff:/, '')).toBe('127.0.0.9');
      expect(session.commands.find((c) => c.verb === 'EHLO')?.line).toBe('EHLO mta.origin.lab.test');
    });

    it('implicit MX (no MX record: the domain address) and a null MX refused at once, permanently', async () => {
      const h = handler();
      const imp = await send(h, ['x@implicit.lab.test']);
      expect(imp.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(imp.domains[0]).toMatchObject({ mxHost: 'implicit.lab.test', address: '127.0.0.2' });
      const nul = await send(h, ['x@nullmx.lab.test']);
      expect(nul.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(nul.isRetryable).toBe(false);
      expect(nul.error?.code).toBe(ErrorCodes.NO_MAIL_DOMAIN);
      const nx = await send(h, ['x@nowhere.lab.test']);
      expect(nx.error?.code).toBe(ErrorCodes.NO_MAIL_DOMAIN);
    });

    it('MTA-STS enforce refuses an MX outside the policy and a bad certificate; testing mode delivers and reports', async () => {
      const h = handler();
      const before5 = count('127.0.0.5');
      const outside = await send(h, ['x@stsbad.lab.test']);
      expect(outside.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(outside.error?.code).toBe(ErrorCodes.TLS_POLICY);
      expect(outside.smtpError).toMatch(/not listed in the policy/);
      expect(count('127.0.0.5')).toBe(before5);
      const before6 = count('127.0.0.6');
      const badCert = await send(h, ['x@stscert.lab.test']);
      expect(badCert.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(badCert.error?.code).toBe(ErrorCodes.TLS);
      expect(count('127.0.0.6')).toBe(before6);
      const testing = await send(h, ['x@ststest.lab.test']);
      expect(testing.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(testing.domains[0]?.tls).toMatchObject({ plan: 'opportunistic', authenticated: false });
      expect(count('127.0.0.6')).toBe(before6 + 1);
      const report = h.tlsRpt.report('ststest.lab.test', {
        organizationName: 'lab',
        contactInfo: 'postmaster@origin.lab.test',
        reportId: 'r1',
        start: new Date(0),
        end: new Date(),
      }) as {
        policies: {
          policy: Record<string, unknown>;
          summary: Record<string, number>;
          'failure-details': Record<string, unknown>[];
        }[];
      };
      expect(report.policies).toHaveLength(1);
      expect(report.policies[0]!.policy['policy-type']).toBe('sts');
      expect(report.policies[0]!.summary['total-failure-session-count']).toBe(1);
      expect(report.policies[0]!['failure-details'][0]).toMatchObject({
        'result-type': 'certificate-not-trusted',
        'receiving-mx-hostname': 'mx.ststest.lab.test',
        'receiving-ip': '127.0.0.6',
      });
    });

    it('MTA-STS: the policy is cached, and refreshed before a retry round fails a message for it', async () => {
      const h = handler({ retryPolicy: { maxRetries: 1, delays: [10], jitter: 0 } });
      const before = lab.policyFetches('stsbad');
      const r = await send(h, ['x@stsbad.lab.test']);
      expect(r.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(r.retryCount).toBe(1);
      expect(lab.policyFetches('stsbad')).toBe(before + 2);
      const beforeSts = lab.policyFetches('sts');
      await send(h, ['x@sts.lab.test']);
      await send(h, ['y@sts.lab.test']);
      expect(lab.policyFetches('sts')).toBe(beforeSts + 1);
    });

    it('DANE-EE match delivers, mismatch is refused (never downgraded), DANE-TA delivers', async () => {
      const h = handler({ mtaSts: false });
      const before5 = count('127.0.0.5');
      const bad = await send(h, ['x@danebad.lab.test']);
      expect(bad.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(bad.error?.code).toBe(ErrorCodes.TLS_POLICY);
      expect(bad.smtpError).toMatch(/DANE/);
      expect(count('127.0.0.5')).toBe(before5);
      const ta = await send(h, ['x@daneta.lab.test']);
      expect(ta.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(ta.domains[0]?.tls).toMatchObject({ plan: 'dane', authenticated: true });
      const report = h.tlsRpt.report('danebad.lab.test', {
        organizationName: 'lab',
        contactInfo: 'x',
        reportId: 'r2',
        start: new Date(0),
        end: new Date(),
      }) as { policies: { policy: Record<string, unknown>; 'failure-details': Record<string, unknown>[] }[] };
      expect(report.policies[0]!.policy['policy-type']).toBe('tlsa');
      expect(report.policies[0]!['failure-details'][0]!['result-type']).toBe('validation-failure');
    });

    it('a bogus DNSSEC signature over the TLSA records: SERVFAIL → temporary failure, nothing sent', async () => {
      const h = handler({ mtaSts: false });
      const before7 = count('127.0.0.7');
      const r = await send(h, ['x@bogus.lab.test']);
      expect(r.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(r.isRetryable).toBe(true);
      expect(r.error?.code).toBe(ErrorCodes.DNS);
      expect(count('127.0.0.7')).toBe(before7);
    });

    it('REQUIRETLS: sent with REQUIRETLS over a DANE-validated path; refused permanently without one', async () => {
      const h = handler();
      const ok = await send(h, ['x@dane.lab.test'], { requireTls: true });
      expect(ok.status).toBe(SmtpDeliveryStatus.SUCCESS);
      expect(lab.servers.get('127.0.0.7')!.messages.at(-1)!.mailParams).toHaveProperty('REQUIRETLS');
      const before2 = count('127.0.0.2');
      const no = await send(h, ['x@plain.lab.test'], { requireTls: true });
      expect(no.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(no.error?.code).toBe(ErrorCodes.REQUIRETLS);
      expect(count('127.0.0.2')).toBe(before2);
    });
    describe('conform --domain', () => {
      const scan = (domain: string) =>
        conform({
          domain,
          resolver: { servers: [lab.resolver], trusted: true, timeout: 3000, tries: 2 },
          port: lab.smtpPort,
          ca: lab.ca,
          mtaSts: { port: lab.httpsPort, ca: lab.ca },
          timeout: 3000,
        });
      const status = (r: ConformDomainReport, id: string) => r.findings.filter((f) => f.id === id).map((f) => f.status);

      it('reports each lab domain as it is', async () => {
        const plain = await scan('plain.lab.test');
        expect(plain.mx.map((m) => m.host)).toEqual(['mx1.plain.lab.test', 'mx2.plain.lab.test']);
        expect(status(plain, 'mx-records')).toEqual(['pass']);
        expect(status(plain, 'dnssec-mx')).toEqual(['pass']);
        expect(status(plain, 'mta-sts-policy')).toEqual(['warn']);
        expect(status(plain, 'starttls-offered')).toEqual(['pass', 'pass']);
        expect(status(plain, 'tls-version')).toEqual(['pass', 'pass']);
        expect(status(plain, 'tls-legacy-versions')).toEqual(['pass', 'pass']);
        expect(status(plain, 'certificate-name')).toEqual(['pass', 'pass']);
        expect(status(plain, 'dane-tlsa')).toEqual(['skipped', 'skipped']);

        const sts = await scan('sts.lab.test');
        expect(status(sts, 'mta-sts-policy')).toEqual(['pass']);
        expect(status(sts, 'mta-sts-mx-coverage')).toEqual(['pass']);
        expect(status(sts, 'tls-rpt')).toEqual(['pass']);
        expect(status(await scan('stsbad.lab.test'), 'mta-sts-mx-coverage')).toEqual(['fail']);
        const stscert = await scan('stscert.lab.test');
        expect(status(stscert, 'certificate-chain')).toEqual(['fail']);
        expect(stscert.summary.status).toBe('fail');

        expect(status(await scan('dane.lab.test'), 'dane-tlsa')).toEqual(['pass']);
        expect(status(await scan('daneta.lab.test'), 'dane-tlsa')).toEqual(['pass']);
        expect(status(await scan('danebad.lab.test'), 'dane-tlsa')).toEqual(['fail']);
        const bogus = await scan('bogus.lab.test');
        expect(bogus.findings.find((f) => f.id === 'dane-tlsa')).toMatchObject({ status: 'fail' });
        expect(bogus.findings.find((f) => f.id === 'dane-tlsa')?.reason).toMatch(/SERVFAIL/);

        const nul = await scan('nullmx.lab.test');
        expect(status(nul, 'null-mx')).toEqual(['pass']);
        expect(nul.mx).toEqual([]);
      }, 40_000);

      it('runs the server checks of --only on each MX host too', async () => {
        const r = await conform({
          domain: 'sts.lab.test',
          resolver: { servers: [lab.resolver], trusted: true, timeout: 3000, tries: 2 },
          port: lab.smtpPort,
          ca: lab.ca,
          mtaSts: { port: lab.httpsPort, ca: lab.ca },
          timeout: 3000,
          hostChecks: ['starttls-offered'],
        });
        expect(r.mx[0]!.checks).toHaveLength(1);
        expect(r.mx[0]!.checks[0]!.checks.map((c) => [c.id, c.status])).toEqual([['starttls-offered', 'pass']]);
      }, 20_000);

      it('smtpwire conform --domain prints JSON and JUnit and exits by the verdict', async () => {
        const out: string[] = [];
        const io = {
          stdout: { write: (s: string) => out.push(s) },
          stderr: { write: () => true },
          stdin: process.stdin,
          env: {},
        } as unknown as Parameters<typeof conformDomainCommand>[1];
        const args = [
          '--domain',
          'danebad.lab.test',
          '--resolver',
          `127.0.0.1:${lab.resolver.port}`,
          '--trusted-resolver',
          '--port',
          String(lab.smtpPort),
          '--timeout',
          '3000',
        ];
        expect(await conformDomainCommand([...args, '--json'], io)).toBe(2);
        const json = JSON.parse(out.join('')) as ConformDomainReport;
        expect(json.findings.find((f) => f.id === 'dane-tlsa')?.status).toBe('fail');
        out.length = 0;
        await conformDomainCommand([...args, '--junit'], io);
        expect(out.join('')).toMatch(/<failure message="\[dane\] DANE would refuse this host/);
        const page = join(mkdtempSync(join(tmpdir(), 'smtpwire-domain-')), 'report.html');
        await conformDomainCommand([...args, '--html', page], io);
        const htmlText = readFileSync(page, 'utf8');
        rmSync(dirname(page), { recursive: true, force: true });
        expect(htmlText).toMatch(/^<!doctype html>/);
        expect(htmlText).toContain('DANE would refuse this host');
        expect(htmlText).not.toMatch(/<script/i);
      }, 20_000);
    });
  });
}
