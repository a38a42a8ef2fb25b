/**
 * The domain report as text and JUnit XML (the JSON form is the report object). Every string that
 * came from the network (policy text, certificate dates, error messages) is escaped before it
 * reaches a terminal, through the one terminal escaper (C0/C1 controls, bidi overrides).
 */
import { escapeTerminalText as safe } from '../../util/terminal-text.js';
import { formatConformJunit, type JunitCheck } from '../report.js';
import type { ConformReport } from '../types.js';
import { type ConformDomainReport, DOMAIN_GROUPS } from './types.js';

const MARK = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skipped: 'SKIP' } as const;

export function formatDomainText(report: ConformDomainReport): string {
  const out = [`smtpwire conform --domain ${safe(report.domain)}`];
  for (const h of report.mx)
    out.push(
      `  mx ${String(h.preference).padStart(5)}  ${safe(h.host)}  ${h.addresses.map((a) => safe(a)).join(', ') || '(no address)'}`,
    );
  const width = Math.max(10, ...report.findings.map((f) => f.id.length));
  for (const group of DOMAIN_GROUPS) {
    const fs = report.findings.filter((f) => f.group === group);
    if (fs.length === 0) continue;
    out.push(`  ${group}`);
    for (const f of fs)
      out.push(
        `    ${MARK[f.status]}  ${f.id.padEnd(width)}  ${f.host ? `${safe(f.host)}: ` : ''}${safe(f.reason)}  [${f.rfc}]`,
      );
  }
  for (const h of report.mx)
    for (const c of h.checks)
      for (const check of c.checks)
        out.push(
          `    ${MARK[check.status]}  ${check.id.padEnd(width)}  ${safe(h.host)} [${c.server.host}]: ${safe(check.reason)}  [${check.rfc}]`,
        );
  const s = report.summary;
  out.push(
    `  summary  ${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skipped} skipped (${s.total} findings, ` +
      `${(s.durationMs / 1000).toFixed(1)} s): ${s.status.toUpperCase()}`,
  );
  return `${out.join('\n')}\n`;
}

/**
 * JUnit XML through the server report's formatter (one owner for the XML rules): the findings become
 * checks of a report named after the domain, the host checks follow as their own checks.
 */
export function formatDomainJunit(report: ConformDomainReport): string {
  const checks: JunitCheck[] = [
    ...report.findings.map((f) => ({
      id: f.host ? `${f.id} ${f.host}` : f.id,
      // The server report groups by its own groups; the domain groups map onto its TLS group or extensions.
      group: (f.group === 'tls' || f.group === 'dane' ? 'starttls' : 'extensions') as JunitCheck['group'],
      status: f.status,
      rfc: f.rfc,
      reason: `[${f.group}] ${f.reason}`,
      evidence: { sent: [], received: [] },
      durationMs: f.durationMs,
    })),
    ...report.mx.flatMap((h) =>
      h.checks.flatMap((c) => c.checks.map((check) => ({ ...check, id: `${check.id} ${h.host}` }))),
    ),
  ];
  const asServer: Omit<ConformReport, 'checks'> & { checks: JunitCheck[] } = {
    server: {
      host: report.domain,
      port: 25,
      encryption: 'tls',
      greeting: null,
      capabilitiesBeforeTls: null,
      capabilities: null,
      secure: true,
      unverified: false,
      authenticated: false,
      error: null,
    },
    checks,
    summary: report.summary,
  };
  return formatConformJunit(asServer);
}
