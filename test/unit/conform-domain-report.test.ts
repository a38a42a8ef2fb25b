/** The domain report's formatters never pass a server's bytes through raw. */
import { describe, expect, it } from 'vitest';
import { formatDomainJunit, formatDomainText } from '../../src/conform/domain/report.js';
import { formatDomainHtml } from '../../src/conform/domain/report-html.js';
import type { ConformDomainReport } from '../../src/conform/domain/types.js';

const hostile = 'bad\x1b[2J<script>alert(1)</script>\r\nforged line';
const report: ConformDomainReport = {
  domain: 'd.example',
  mx: [{ host: 'mx.d.example', preference: 10, addresses: ['192.0.2.1'], checks: [] }],
  findings: [
    {
      id: 'mta-sts-policy',
      group: 'mta-sts',
      status: 'fail',
      rfc: 'RFC 8461 §3.3',
      reason: hostile,
      host: null,
      durationMs: 1,
    },
    {
      id: 'starttls-offered',
      group: 'tls',
      status: 'pass',
      rfc: 'RFC 3207',
      reason: 'ok',
      host: 'mx.d.example [192.0.2.1]',
      durationMs: 1,
    },
  ],
  summary: { pass: 1, warn: 0, fail: 1, skipped: 0, total: 2, status: 'fail', durationMs: 2 },
};

describe('domain report formatters', () => {
  it('text: control characters shown as \\xNN, one line per finding', () => {
    const text = formatDomainText(report);
    expect(text).not.toContain('\x1b');
    expect(text).toContain('bad\\x1b[2J');
    expect(text.split('\n').filter((l) => l.includes('forged line'))).toHaveLength(1);
    expect(text).toMatch(/FAIL {2}mta-sts-policy/);
  });

  it('text: bidi overrides from the network are escaped too (the one terminal escaper)', () => {
    const text = formatDomainText({ ...report, mx: [{ ...report.mx[0]!, host: 'mx.\u202eelpmaxe.d' }] });
    expect(text).not.toContain('\u202e');
    expect(text).toContain('mx.\\u202eelpmaxe.d');
  });

  it('HTML: no markup from the network survives', () => {
    const page = formatDomainHtml(report);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&#60;script&#62;');
  });

  it('JUnit: a failure per failed finding, XML-escaped', () => {
    const xml = formatDomainJunit(report);
    expect(xml).not.toContain('<script>');
    expect((xml.match(/<failure /g) ?? []).length).toBe(1);
  });
});
