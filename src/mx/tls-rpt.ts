/**
 * SMTP TLS Reporting (RFC 8460): the `_smtp._tls.<domain>` TXT record (where reports go) and the
 * aggregate report (§4.4 JSON) built from the sessions a handler attempted. The report is handed to
 * the caller, who sends it (by mail, gzipped, or HTTPS POST to the `rua`) on their schedule.
 * Parsing and building are pure; `lookupTlsRpt` queries.
 */
import type { DnsResolver } from '../dns/client.js';
import { canonicalName, RecordType } from '../dns/message.js';
import { ConnectionError, InvalidArgumentError, TimeoutError } from '../errors.js';

/** Which policy governs a host (RFC 8460 §4.4 `policy-type`; policy.ts decides it). */
export type PolicyType = 'tlsa' | 'sts' | 'no-policy-found';

/** RFC 8460 §4.3 result types. */
export type RptResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

/** One TLS session attempt (or a host not attempted because a policy refused it). */
export interface RptSession {
  domain: string;
  policyType: PolicyType;
  /** The policy as published: the MTA-STS policy's lines, or the TLSA records in presentation form. */
  policyStrings: string[];
  mxHost: string;
  receivingIp: string | null;
  sendingIp: string | null;
  /** null: the session negotiated TLS as the policy asked. */
  failure: RptResultType | null;
  detail?: string;
}

/** `v=TLSRPTv1; rua=mailto:…,https://…` → the rua URIs, or null without a (single, valid) record. Pure. */
export function parseTlsRptTxt(records: readonly (readonly string[])[]): string[] | null {
  const rpt = records.map((r) => r.join('')).filter((t) => /^v=TLSRPTv1\s*(;|$)/.test(t.trim()));
  if (rpt.length !== 1) return null;
  const rua = /(?:^|;)\s*rua=([^;]+)/.exec(rpt[0]!)?.[1];
  if (!rua) return null;
  const uris = rua
    .split(',')
    .map((u) => u.trim())
    .filter((u) => /^(mailto:|https:)/i.test(u));
  return uris.length > 0 ? uris : null;
}

/** Where the domain wants its reports, or null. DNS failures count as no record. */
export async function lookupTlsRpt(
  resolver: DnsResolver,
  domain: string,
  signal?: AbortSignal,
): Promise<string[] | null> {
  try {
    const txt = await resolver.lookup(`_smtp._tls.${canonicalName(domain)}`, RecordType.TXT, { signal });
    return parseTlsRptTxt(txt.records.map((r) => ('strings' in r ? r.strings : [])));
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SMTP_ABORTED') throw err;
    return null;
  }
}

export interface ReportMeta {
  organizationName: string;
  contactInfo: string;
  reportId: string;
  start: Date;
  end: Date;
}

/** The sessions of one policy, tallied: what a report needs, in memory bounded by distinct failures. */
interface PolicyTally {
  domain: string;
  policyType: PolicyType;
  policyStrings: string[];
  mxHosts: Set<string>;
  successful: number;
  failed: number;
  /** Failure groups (result, IPs, MX host) → the first session of the group and its count. */
  failures: Map<string, { s: RptSession; n: number }>;
}

/**
 * Failure groups kept per policy; a failure beyond it still counts in the summary's
 * `total-failure-session-count`, only its `failure-details` row is not added.
 */
export const MAX_FAILURE_GROUPS = 1000;

/** Adds one session to the tallies, by domain and policy. */
function tally(byPolicy: Map<string, PolicyTally>, s: RptSession): void {
  const key = JSON.stringify([s.domain, s.policyType, s.policyStrings]);
  let t = byPolicy.get(key);
  if (!t) {
    t = {
      domain: s.domain,
      policyType: s.policyType,
      policyStrings: s.policyStrings,
      mxHosts: new Set(),
      successful: 0,
      failed: 0,
      failures: new Map(),
    };
    byPolicy.set(key, t);
  }
  t.mxHosts.add(s.mxHost);
  if (!s.failure) {
    t.successful++;
    return;
  }
  t.failed++;
  const failureKey = JSON.stringify([s.failure, s.sendingIp, s.mxHost, s.receivingIp]);
  const f = t.failures.get(failureKey);
  if (f) f.n++;
  else if (t.failures.size < MAX_FAILURE_GROUPS) t.failures.set(failureKey, { s, n: 1 });
}

/**
 * Collects sessions as counts per policy domain and policy (every session counts; nothing is dropped);
 * `report(domain, meta)` builds the RFC 8460 §4.4 JSON object for one policy domain. A long-running process
 * hands reports off and calls `clear()` per reporting period.
 */
export class TlsRptCollector {
  /** Policy domain → its policies' tallies. */
  readonly #domains = new Map<string, Map<string, PolicyTally>>();
  #count = 0;

  record(session: RptSession): void {
    let byPolicy = this.#domains.get(session.domain);
    if (!byPolicy) {
      byPolicy = new Map();
      this.#domains.set(session.domain, byPolicy);
    }
    tally(byPolicy, session);
    this.#count++;
  }

  /** Sessions recorded since the last `clear()`. */
  get sessionCount(): number {
    return this.#count;
  }

  /** The policy domains with sessions. */
  domains(): string[] {
    return [...this.#domains.keys()];
  }

  clear(): void {
    this.#domains.clear();
    this.#count = 0;
  }

  report(domain: string, meta: ReportMeta): Record<string, unknown> {
    return reportOf(this.#domains.get(canonicalName(domain))?.values() ?? [], meta);
  }
}

/** RFC 8460 §4.4: one entry per policy, success and failure counts, failures grouped. Pure. */
export function buildReport(sessions: readonly RptSession[], meta: ReportMeta): Record<string, unknown> {
  const byPolicy = new Map<string, PolicyTally>();
  for (const s of sessions) tally(byPolicy, s);
  return reportOf(byPolicy.values(), meta);
}

function reportOf(tallies: Iterable<PolicyTally>, meta: ReportMeta): Record<string, unknown> {
  const policies = [...tallies].map((t) => ({
    policy: {
      'policy-type': t.policyType,
      'policy-string': t.policyStrings,
      'policy-domain': t.domain,
      'mx-host': [...t.mxHosts],
    },
    summary: {
      'total-successful-session-count': t.successful,
      'total-failure-session-count': t.failed,
    },
    'failure-details': [...t.failures.values()].map(({ s, n }) => ({
      'result-type': s.failure,
      ...(s.sendingIp ? { 'sending-mta-ip': s.sendingIp } : {}),
      'receiving-mx-hostname': s.mxHost,
      ...(s.receivingIp ? { 'receiving-ip': s.receivingIp } : {}),
      'failed-session-count': n,
      ...(s.detail ? { 'additional-information': s.detail } : {}),
    })),
  }));
  return {
    'organization-name': meta.organizationName,
    'date-range': { 'start-datetime': meta.start.toISOString(), 'end-datetime': meta.end.toISOString() },
    'contact-info': meta.contactInfo,
    'report-id': meta.reportId,
    policies,
  };
}

/**
 * Sends a report to an `https:` rua (RFC 8460 §5.4): POST, gzipped, `application/tlsrpt+gzip`.
 * Resolves with the HTTP status (2xx: accepted); rejects with InvalidArgumentError for a rua that is not
 * `https:`, ConnectionError on a network or TLS error (the cause kept), TimeoutError when the whole exchange
 * takes longer than `timeout` (default 30 s). The certificate is checked (`ca` for a private CA).
 */
export async function postTlsRptReport(
  url: string,
  report: Record<string, unknown>,
  options: { ca?: string | Buffer | (string | Buffer)[]; timeout?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const target = URL.canParse(url) ? new URL(url) : null;
  if (target?.protocol !== 'https:')
    throw new InvalidArgumentError(`not an https rua: ${JSON.stringify(url)}`, { field: 'url' });
  const [{ default: https }, { gzipSync }] = await Promise.all([import('node:https'), import('node:zlib')]);
  const body = gzipSync(Buffer.from(JSON.stringify(report), 'utf8'));
  const timeout = options.timeout ?? 30_000;
  return new Promise<number>((resolve, reject) => {
    const req = https.request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/tlsrpt+gzip', 'content-length': body.length },
        rejectUnauthorized: true,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    // The whole exchange, not each silence: a collector trickling bytes must not hold the sender forever.
    const deadline = setTimeout(
      () =>
        req.destroy(
          new TimeoutError(`no answer from ${target.host} within ${timeout} ms`, { phase: 'finalReply', timeout }),
        ),
      timeout,
    );
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (err) =>
      reject(
        err instanceof TimeoutError
          ? err
          : new ConnectionError(`TLS-RPT report to ${target.host} failed: ${err.message}`, { cause: err }),
      ),
    );
    req.end(body);
  });
}
