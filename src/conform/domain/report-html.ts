/**
 * The domain report as one self-contained HTML page (no script, no external resource), for people
 * who want to share it. Every value is HTML-escaped: policy text, certificate fields and error
 * messages come from the network.
 */
import { type ConformDomainReport, DOMAIN_GROUPS } from './types.js';

function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const COLOURS = { pass: '#1a7f37', warn: '#9a6700', fail: '#cf222e', skipped: '#6e7781' } as const;

export function formatDomainHtml(report: ConformDomainReport): string {
  const s = report.summary;
  const rows: string[] = [];
  for (const group of DOMAIN_GROUPS)
    for (const f of report.findings.filter((x) => x.group === group))
      rows.push(
        `<tr><td style="color:${COLOURS[f.status]};font-weight:bold">${f.status.toUpperCase()}</td>` +
          `<td>${html(f.group)}</td><td>${html(f.id)}</td><td>${html(f.host ?? '')}</td>` +
          `<td>${html(f.reason)}</td><td>${html(f.rfc)}</td></tr>`,
      );
  const mx = report.mx
    .map((h) => `<li>${h.preference} ${html(h.host)} — ${html(h.addresses.join(', ') || 'no address')}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smtpwire conform --domain ${html(report.domain)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}</style>
</head><body>
<h1>${html(report.domain)}</h1>
<p>${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skipped} skipped — <strong style="color:${COLOURS[s.status]}">${s.status.toUpperCase()}</strong></p>
<h2>MX</h2><ul>${mx || '<li>none</li>'}</ul>
<h2>Findings</h2>
<table><tr><th>Status</th><th>Group</th><th>Check</th><th>Host</th><th>Reason</th><th>RFC</th></tr>
${rows.join('\n')}
</table></body></html>
`;
}
