/**
 * The conform report as text (for people) and JUnit XML (for CI). Pure string building; the JSON
 * form is the report object itself.
 */
import { escapeTerminalText as t } from '../util/terminal-text.js';
import { CONFORM_GROUPS, type ConformCheck, type ConformReport } from './types.js';

const MARK: Record<ConformCheck['status'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skipped: 'SKIP' };

/**
 * Text report; with `evidence`, each check's bytes sent (`C:`) and lines received (`S:`) follow it.
 * Every string that may carry server bytes goes through the terminal escaper (safe to print).
 */
export function formatConformText(report: ConformReport, options: { evidence?: boolean } = {}): string {
  const { server, summary } = report;
  const channel = server.encryption === 'ssl' ? 'implicit TLS' : server.secure ? 'STARTTLS' : 'plaintext';
  const out = [
    `smtpwire conform ${t(server.host)}:${server.port} (${channel}${server.authenticated ? ', authenticated' : ''})`,
  ];
  if (server.greeting) out.push(`  greeting      ${t(server.greeting)}`);
  if (server.capabilitiesBeforeTls) out.push(`  before TLS    ${t(server.capabilitiesBeforeTls.join(', '))}`);
  if (server.capabilities) out.push(`  capabilities  ${t(server.capabilities.join(', '))}`);
  if (server.unverified)
    out.push('  certificate   NOT VERIFIED: checks ran without verification and without credentials');
  if (server.error) out.push(`  note          ${t(server.error)}`);
  const width = Math.max(...report.checks.map((c) => c.id.length), 10);
  for (const group of CONFORM_GROUPS) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    out.push(`  ${group}`);
    for (const c of checks) {
      out.push(`    ${MARK[c.status]}  ${t(c.id).padEnd(width)}  ${t(c.reason)}  [${t(c.rfc)}]`);
      if (options.evidence) {
        for (const line of c.evidence.sent) out.push(`          C: ${t(line)}`);
        for (const line of c.evidence.received) out.push(`          S: ${t(line)}`);
      }
    }
  }
  out.push(
    `  summary       ${summary.pass} pass, ${summary.warn} warn, ${summary.fail} fail, ${summary.skipped} skipped ` +
      `(${summary.total} checks, ${(summary.durationMs / 1000).toFixed(1)} s): ${summary.status.toUpperCase()}`,
  );
  return `${out.join('\n')}\n`;
}

/** XML 1.0 text: the five entities escaped, characters XML cannot carry replaced. */
function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/**
 * JUnit XML: one `testsuite` per group, one `testcase` per check. `fail` is a `<failure>`,
 * `skipped` a `<skipped>`; a `warn` passes with its reason in `<system-out>` (and fails with
 * `warnAsFailure`). The evidence goes to each test case's `<system-out>`.
 */
/** A check as JUnit prints it: the id is only a test-case name (the domain scan adds its host to it). */
export type JunitCheck = Omit<ConformCheck, 'id'> & { id: string };

export function formatConformJunit(
  report: Omit<ConformReport, 'checks'> & { checks: readonly JunitCheck[] },
  options: { warnAsFailure?: boolean } = {},
): string {
  const target = `${report.server.host}:${report.server.port}`;
  const failed = (c: JunitCheck): boolean =>
    c.status === 'fail' || (options.warnAsFailure === true && c.status === 'warn');
  const suites: string[] = [];
  for (const group of CONFORM_GROUPS) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    const time = checks.reduce((t, c) => t + c.durationMs, 0);
    const cases = checks.map((c) => {
      const evidence = [...c.evidence.sent.map((l) => `C: ${l}`), ...c.evidence.received.map((l) => `S: ${l}`)];
      const out = [`${c.status.toUpperCase()}: ${c.reason} [${c.rfc}]`, ...evidence].join('\n');
      const inner = failed(c)
        ? `<failure message="${xml(c.reason)}" type="${c.status}">${xml(`${c.rfc}: ${c.reason}`)}</failure>`
        : c.status === 'skipped'
          ? `<skipped message="${xml(c.reason)}"/>`
          : '';
      return (
        `    <testcase classname="smtpwire.conform.${xml(group)}" name="${xml(c.id)}" time="${seconds(c.durationMs)}">` +
        `${inner}<system-out>${xml(out)}</system-out></testcase>`
      );
    });
    suites.push(
      `  <testsuite name="${xml(`${target} ${group}`)}" tests="${checks.length}" failures="${checks.filter(failed).length}" ` +
        `errors="0" skipped="${checks.filter((c) => c.status === 'skipped').length}" time="${seconds(time)}">\n` +
        `${cases.join('\n')}\n  </testsuite>`,
    );
  }
  const s = report.summary;
  const failures = report.checks.filter(failed).length;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="${xml(`smtpwire conform ${target}`)}" tests="${s.total}" failures="${failures}" errors="0" ` +
    `skipped="${s.skipped}" time="${seconds(s.durationMs)}">\n${suites.join('\n')}\n</testsuites>\n`
  );
}
