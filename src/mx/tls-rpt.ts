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

/** Collects sessions; `report(domain, meta)` builds the RFC 8460 §4.4 JSON object for one policy domain. */
export class TlsRptCollector {
  readonly #sessions: RptSession[] = [];
  /** Bound: a long-running process hands reports off and calls `clear()`; beyond this, the oldest are dropped. */
  constructor(readonly maxSessions = 100_000) {}

  record(session: RptSession): void {
    this.#sessions.push(session);
    if (this.#sessions.length > this.maxSessions) this.#sessions.shift();
  }

  get sessions(): readonly RptSession[] {
    return this.#sessions;
  }

  /** The policy domains with sessions. */
  domains(): string[] {
    return [...new Set(this.#sessions.map((s) => s.domain))];
  }

  clear(): void {
    this.#sessions.length = 0;
  }

  report(domain: string, meta: ReportMeta): Record<string, unknown> {
    return buildReport(
      this.#sessions.filter((s) => s.domain === canonicalName(domain)),
      meta,
    );
  }
}

/** RFC 8460 §4.4: one entry per policy, success and failure counts, failures grouped. Pure. */
export function buildReport(sessions: readonly RptSession[], meta: ReportMeta): Record<string, unknown> {
  const byPolicy = new Map<string, RptSession[]>();
  for (const s of sessions) {
    const key = JSON.stringify([s.domain, s.policyType, s.policyStrings]);
    // Appended in place: copying the group per session is quadratic (a collector holds up to 100,000).
    const group = byPolicy.get(key);
    if (group) group.push(s);
    else byPolicy.set(key, [s]);
  }
  const policies = [...byPolicy.values()].map((group) => {
    const first = group[0]!;
    const failures = new Map<string, { s: RptSession; n: number }>();
    for (const s of group) {
      if (!s.failure) continue;
      const key = JSON.stringify([s.failure, s.sendingIp, s.mxHost, s.receivingIp]);
      const f = failures.get(key);
      if (f) f.n++;
      else failures.set(key, { s, n: 1 });
    }
    return {
      policy: {
        'policy-type': first.policyType,
        'policy-string': first.policyStrings,
        'policy-domain': first.domain,
        'mx-host': [...new Set(group.map((s) => s.mxHost))],
      },
      summary: {
        'total-successful-session-count': group.filter((s) => !s.failure).length,
        'total-failure-session-count': group.filter((s) => s.failure).length,
      },
      'failure-details': [...failures.values()].map(({ s, n }) => ({
        'result-type': s.failure,
        ...(s.sendingIp ? { 'sending-mta-ip': s.sendingIp } : {}),
        'receiving-mx-hostname': s.mxHost,
        ...(s.receivingIp ? { 'receiving-ip': s.receivingIp } : {}),
        'failed-session-count': n,
        ...(s.detail ? { 'additional-information': s.detail } : {}),
      })),
    };
  });
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
