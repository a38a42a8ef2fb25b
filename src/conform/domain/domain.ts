/**
 * `conform({ domain })`: what a sender meets when it delivers to a domain, as internet.nl's mail test
 * and checktls report it: the MX records (null MX, implicit MX, DNSSEC), the MTA-STS record, policy
 * and its coverage of the MX hosts, the TLS-RPT record, and per MX address the TLS group and the
 * TLSA records against the presented certificates. Each rule is decided by its owner in src/mx
 * (resolve.ts, mta-sts.ts, dane.ts, tls-rpt.ts); this file only turns the answers into findings.
 * Never throws for what the domain publishes; bounded by `timeout` per lookup and handshake.
 */
import { DnsResolver } from '../../dns/client.js';
import { canonicalName, RecordType } from '../../dns/message.js';
import { DnsError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { type DaneRequirement, lookupTlsa } from '../../mx/dane.js';
import { MemoryStsCache, MtaSts, mxMatches } from '../../mx/mta-sts.js';
import { type MxHost, mxTargets, resolveMx } from '../../mx/resolve.js';
import { lookupTlsRpt } from '../../mx/tls-rpt.js';
import {
  assertKnownKeys,
  assertObject,
  CONFORM_DOMAIN_OPTION_KEYS,
  checkClientName,
  checkPort,
  duration,
  positiveInteger,
} from '../../options.js';
import { summarize } from '../runner.js';
import { conformServer } from '../server.js';
import { scanTls } from './tls-scan.js';
import {
  type ConformDomainOptions,
  type ConformDomainReport,
  DOMAIN_GROUPS,
  type DomainFinding,
  type DomainMxHost,
} from './types.js';

const DEFAULT_TIMEOUT = 10_000;

/**
 * Scans a domain. @throws InvalidArgumentError for an unknown option or a bad value.
 */
export async function conformDomain(options: ConformDomainOptions): Promise<ConformDomainReport> {
  // options.ts's rules, as for the one-server scan: the same value gets the same error.
  assertObject(options, 'conform options');
  assertKnownKeys(options, CONFORM_DOMAIN_OPTION_KEYS, 'conform options');
  if (typeof options.domain !== 'string' || !/^[A-Za-z0-9.-]+$/.test(options.domain))
    throw new InvalidArgumentError('domain must be an ASCII domain name (an A-label for IDNs)', { field: 'domain' });
  const started = performance.now();
  const domain = canonicalName(options.domain);
  const timeout = duration(options.timeout, DEFAULT_TIMEOUT, 'timeout', { infinityOk: false });
  const port = checkPort(options.port ?? 25, 'tls');
  if (options.mtaSts?.port !== undefined) checkPort(options.mtaSts.port, 'tls', 'mtaSts.port');
  checkClientName(options.clientName);
  const perHost = positiveInteger(options.addressesPerHost, 2, 'addressesPerHost');
  const resolver =
    options.resolver instanceof DnsResolver
      ? options.resolver
      : new DnsResolver({ timeout: Math.min(timeout, 5000), ...options.resolver });
  const signal = options.signal;
  const findings: DomainFinding[] = [];
  const add = (f: Omit<DomainFinding, 'durationMs' | 'host'> & { host?: string | null }, t: number): void => {
    findings.push({ host: null, ...f, durationMs: Math.round(performance.now() - t) });
  };
  const mx: DomainMxHost[] = [];

  // ── MX ──
  let t = performance.now();
  let hosts: MxHost[] = [];
  let mxSecure = false;
  let acceptsMail = true;
  try {
    const answer = await resolver.lookup(domain, RecordType.MX, { signal });
    const targets = mxTargets(domain, answer);
    if (targets.length === 1 && targets[0]!.implicit)
      add(
        {
          id: 'mx-records',
          group: 'mx',
          status: 'warn',
          rfc: 'RFC 5321 §5.1',
          reason: "no MX records: senders fall back to the domain's own address (implicit MX)",
        },
        t,
      );
    else
      add(
        {
          id: 'mx-records',
          group: 'mx',
          status: 'pass',
          rfc: 'RFC 5321 §5.1',
          reason: `MX: ${targets.map((x) => `${x.preference} ${x.host}`).join(', ')}`,
        },
        t,
      );
    if (answer.records.some((r) => 'exchange' in r && r.exchange === ''))
      add(
        {
          id: 'null-mx',
          group: 'mx',
          status: 'warn',
          rfc: 'RFC 7505 §3',
          reason: 'a null MX is published beside other MX records (it is ignored)',
        },
        t,
      );
    const resolution = await resolveMx(resolver, domain, { signal, answer });
    hosts = resolution.hosts;
    mxSecure = resolution.secure;
    add(
      resolver.trusted
        ? {
            id: 'dnssec-mx',
            group: 'mx',
            status: mxSecure ? 'pass' : 'warn',
            rfc: 'RFC 7672 §2.2.1',
            reason: mxSecure
              ? 'the MX records are DNSSEC-signed and validate'
              : 'the MX records are not DNSSEC-validated',
          }
        : {
            id: 'dnssec-mx',
            group: 'mx',
            status: 'skipped',
            rfc: 'RFC 7672 §2.2.1',
            reason: 'the resolver is not marked trusted: DNSSEC not judged',
          },
      t,
    );
  } catch (err) {
    const e = err as DnsError;
    if (e.code === ErrorCodes.NO_MAIL_DOMAIN && e.rcode === 'NOERROR') {
      acceptsMail = false;
      add(
        {
          id: 'null-mx',
          group: 'mx',
          status: 'pass',
          rfc: 'RFC 7505',
          reason: 'a null MX is published: the domain accepts no mail (senders refuse at once)',
        },
        t,
      );
    } else if (err instanceof DnsError) {
      acceptsMail = false;
      add({ id: 'mx-records', group: 'mx', status: 'fail', rfc: 'RFC 5321 §5.1', reason: e.message }, t);
    } else throw err;
  }

  // ── MTA-STS ──
  t = performance.now();
  const sts = await new MtaSts({
    resolver,
    cache: new MemoryStsCache(),
    fetch: {
      timeout,
      ...(options.mtaSts?.port === undefined ? {} : { port: options.mtaSts.port }),
      ...((options.mtaSts?.ca ?? options.ca) === undefined ? {} : { ca: options.mtaSts?.ca ?? options.ca }),
    },
  }).policyFor(domain, { signal });
  const policy = sts.policy;
  if (!policy && sts.txtError !== null)
    add(
      {
        id: 'mta-sts-policy',
        group: 'mta-sts',
        status: 'warn',
        rfc: 'RFC 8461 §3.1',
        reason: `the MTA-STS record (_mta-sts TXT) could not be looked up: ${sts.txtError}`,
      },
      t,
    );
  else if (!policy && !sts.fetchError)
    add(
      {
        id: 'mta-sts-policy',
        group: 'mta-sts',
        status: acceptsMail ? 'warn' : 'skipped',
        rfc: 'RFC 8461 §3.1',
        reason: 'no MTA-STS record (_mta-sts TXT): senders use TLS only opportunistically',
      },
      t,
    );
  else if (!policy)
    add(
      {
        id: 'mta-sts-policy',
        group: 'mta-sts',
        status: 'fail',
        rfc: 'RFC 8461 §3.3',
        reason: `an MTA-STS record is published but the policy cannot be used: ${sts.fetchError}`,
      },
      t,
    );
  else {
    add(
      {
        id: 'mta-sts-policy',
        group: 'mta-sts',
        status: policy.mode === 'enforce' ? 'pass' : 'warn',
        rfc: 'RFC 8461 §3.2',
        reason: `policy id ${sts.id}, mode ${policy.mode}, max_age ${policy.maxAge} s, mx ${policy.mx.join(', ')}`,
      },
      t,
    );
    const uncovered = hosts.filter((h) => !mxMatches(policy.mx, h.host)).map((h) => h.host);
    if (policy.mode !== 'none')
      add(
        {
          id: 'mta-sts-mx-coverage',
          group: 'mta-sts',
          status: uncovered.length === 0 ? 'pass' : policy.mode === 'enforce' ? 'fail' : 'warn',
          rfc: 'RFC 8461 §4.1',
          reason:
            uncovered.length === 0
              ? 'every MX host matches the policy'
              : `MX hosts outside the policy (senders refuse them under enforce): ${uncovered.join(', ')}`,
        },
        t,
      );
  }

  // ── TLS-RPT ──
  t = performance.now();
  const rua = await lookupTlsRpt(resolver, domain, signal);
  add(
    {
      id: 'tls-rpt',
      group: 'tls-rpt',
      status: rua ? 'pass' : acceptsMail ? 'warn' : 'skipped',
      rfc: 'RFC 8460 §3',
      reason: rua
        ? `reports go to ${rua.join(', ')}`
        : 'no TLS-RPT record (_smtp._tls TXT): failures are not reported to the domain',
    },
    t,
  );

  // ── per MX host: TLSA, TLS ──
  for (const h of hosts) {
    const entry: DomainMxHost = { host: h.host, preference: h.preference, addresses: h.addresses, checks: [] };
    mx.push(entry);
    t = performance.now();
    if (h.addresses.length === 0) {
      add(
        {
          id: 'mx-address',
          group: 'mx',
          status: 'fail',
          rfc: 'RFC 5321 §5.1',
          reason: h.error?.message ?? 'no address records',
          host: h.host,
        },
        t,
      );
      continue;
    }
    let dane: DaneRequirement;
    try {
      dane = await lookupTlsa(resolver, h.host, { port, addressesSecure: h.secure, signal });
    } catch (err) {
      if (!(err instanceof DnsError)) throw err;
      add(
        {
          id: 'dane-tlsa',
          group: 'dane',
          status: 'fail',
          rfc: 'RFC 7672 §2.2',
          reason: `${err.message}: DANE senders defer mail to this host`,
          host: h.host,
        },
        t,
      );
      dane = { kind: 'none', reason: 'the TLSA lookup failed' };
    }
    for (const address of h.addresses.slice(0, perHost)) {
      findings.push(
        ...(await scanTls(address, h.host, {
          port,
          ca: options.ca,
          timeout,
          clientName: options.clientName ?? 'smtpwire.conform',
          dane,
          pkixRequired: policy?.mode === 'enforce' && mxMatches(policy.mx, h.host),
          now: new Date(),
        })),
      );
      if (options.hostChecks && options.hostChecks.length > 0)
        entry.checks.push(
          await conformServer({
            host: address,
            port,
            only: options.hostChecks,
            tls: { servername: h.host, rejectUnauthorized: false },
            // The scan's bound per reply, as for its own lookups and handshakes.
            replyTimeout: timeout,
            ...(options.clientName === undefined ? {} : { clientName: options.clientName }),
            ...(signal === undefined ? {} : { signal }),
          }),
        );
    }
  }
  const hostFindings = mx.flatMap((m) => m.checks.flatMap((c) => c.checks));
  const summary = summarize([...findings, ...hostFindings], performance.now() - started);
  findings.sort((a, b) => DOMAIN_GROUPS.indexOf(a.group) - DOMAIN_GROUPS.indexOf(b.group));
  return { domain, mx, findings, summary };
}
