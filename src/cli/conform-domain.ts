/**
 * `smtpwire conform --domain example.com`: the domain scan (MX, MTA-STS, TLS-RPT, per-MX TLS and
 * DANE), as text, JSON or JUnit XML. Exit 0 when everything passed, 1 with warnings, 2 on a failure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { conformDomain, formatDomainHtml, formatDomainJunit, formatDomainText } from './api.js';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_WARNINGS, positiveInt, UsageError } from './common.js';
import { toJsonText } from './json.js';

export const CONFORM_DOMAIN_USAGE = `usage: smtpwire conform --domain DOMAIN [--resolver IP[:PORT]]… [--trusted-resolver]
                       [--port N] [--ca FILE] [--sts-port N] [--timeout MS] [--only ID|GROUP]…
                       [--json | --junit [--output FILE]]
  Scans what a sender meets delivering to DOMAIN: MX (null MX, implicit MX, DNSSEC), the MTA-STS
  policy and its MX coverage, TLS-RPT, and per MX host STARTTLS, TLS versions, the certificate
  (chain, name, expiry) and its TLSA records (DANE). --trusted-resolver: the resolver validates
  DNSSEC and the path to it is safe (loopback); without it DNSSEC and DANE are not judged.
  --html FILE also writes the report as one self-contained HTML page.
  --only runs these server checks (groups or ids of \`smtpwire conform host\`) on each MX host too.`;

/** @throws UsageError. */
export async function conformDomainCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      domain: { type: 'string' },
      resolver: { type: 'string', multiple: true },
      'trusted-resolver': { type: 'boolean' },
      port: { type: 'string' },
      ca: { type: 'string' },
      'sts-port': { type: 'string' },
      timeout: { type: 'string' },
      only: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      junit: { type: 'boolean' },
      html: { type: 'string' },
      output: { type: 'string' },
    },
  });
  if (values.domain === undefined) throw new UsageError('--domain DOMAIN is required');
  if (values.json && values.junit) throw new UsageError('choose one of --json and --junit');
  const ca = values.ca === undefined ? undefined : readFileSync(values.ca, 'utf8');
  const report = await conformDomain({
    domain: values.domain,
    resolver: {
      ...(values.resolver === undefined ? {} : { servers: values.resolver }),
      trusted: values['trusted-resolver'] === true,
    },
    ...(values.port === undefined ? {} : { port: positiveInt('port', values.port, 0) }),
    ...(ca === undefined ? {} : { ca }),
    ...(values['sts-port'] === undefined
      ? {}
      : { mtaSts: { port: positiveInt('sts-port', values['sts-port'], 0), ...(ca === undefined ? {} : { ca }) } }),
    ...(values.timeout === undefined ? {} : { timeout: positiveInt('timeout', values.timeout, 0) }),
    ...(values.only === undefined ? {} : { hostChecks: values.only }),
  });
  const text = values.json ? toJsonText(report) : values.junit ? formatDomainJunit(report) : formatDomainText(report);
  if (values.html !== undefined) writeFileSync(values.html, formatDomainHtml(report));
  if (values.output !== undefined) writeFileSync(values.output, text);
  else io.stdout.write(text);
  const status = report.summary.status;
  return status === 'pass' ? EXIT_OK : status === 'warn' ? EXIT_WARNINGS : EXIT_FAILURE;
}
