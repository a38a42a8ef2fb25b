/**
 * `conform` against the real servers of the harness (issue 17): Postfix with its defaults and with
 * `smtpd_forbid_bare_newline = yes` / `reject`, aiosmtpd, smtp-server, and Exim 4.96 (extracted from its
 * Debian package, which conflicts with Postfix's). Shared by `conform.test.ts` (which
 * asserts the verdicts) and `conform-matrix-report.ts` (which writes the README matrix).
 *
 * Each server runs with the usual SIZE, 10,240,000 (`size-enforced` streams an oversized body), the
 * test CA, the default user, and `rcpt` in the test domain that every server accepts; the open-relay
 * check is on. A run takes a few seconds per server.
 */
import { conform } from '../../src/conform/conform.js';
import type { ConformOptions, ConformReport } from '../../src/conform/types.js';
import { type EximServer, startExim } from './servers/exim.js';
import {
  type RealServer,
  type ServerName,
  startAiosmtpd,
  startPostfix,
  startSmtpServerProcess,
  TEST_DOMAIN,
} from './servers/index.js';

/** One column of the matrix: a server in one configuration. */
export interface ConformTarget {
  /** Column title. */
  label: string;
  /** The harness's servers, or Exim (extracted, not installed: in this matrix only). */
  server: ServerName | 'exim';
  start(): Promise<RealServer | EximServer>;
}

/** SIZE for the runs: Postfix's default, 10,240,000, which `size-enforced` exceeds by streaming ~10 MB. */
export const MATRIX_SIZE_LIMIT = 10_240_000;

const COMMON = { sizeLimit: MATRIX_SIZE_LIMIT, startTimeoutMs: 20_000 };

/** The columns, in README order. */
export const CONFORM_TARGETS: readonly ConformTarget[] = [
  { label: 'Postfix 3.7 (defaults)', server: 'postfix', start: () => startPostfix(COMMON) },
  {
    label: 'Postfix 3.7 (smtpd_forbid_bare_newline = yes)',
    server: 'postfix',
    // The harness connects from 127.0.0.1, inside $mynetworks, which the default exclusions exempt.
    start: () =>
      startPostfix({
        ...COMMON,
        mainCf: { smtpd_forbid_bare_newline: 'yes', smtpd_forbid_bare_newline_exclusions: '' },
      }),
  },
  {
    label: 'Postfix 3.7 (smtpd_forbid_bare_newline = reject)',
    server: 'postfix',
    start: () =>
      startPostfix({
        ...COMMON,
        mainCf: { smtpd_forbid_bare_newline: 'reject', smtpd_forbid_bare_newline_exclusions: '' },
      }),
  },
  { label: 'aiosmtpd 1.4', server: 'aiosmtpd', start: () => startAiosmtpd(COMMON) },
  { label: 'smtp-server 3.x', server: 'smtp-server', start: () => startSmtpServerProcess(COMMON) },
  { label: 'Exim 4.96', server: 'exim', start: () => startExim(COMMON) },
];

/** The conform options for a started server: STARTTLS on its plain port, authenticated. */
export function conformOptions(server: RealServer | EximServer): ConformOptions {
  const user = server.users[0]!;
  return {
    host: server.host,
    port: server.port,
    encryption: 'tls',
    tls: { ca: server.tls.ca, servername: server.tls.servername },
    username: user.username,
    password: user.password,
    sender: `conform@${TEST_DOMAIN}`,
    rcpt: `owner@${TEST_DOMAIN}`,
    relayTest: true,
    replyTimeout: 3000,
    checkTimeout: 10_000,
    budget: 60_000,
  };
}

/**
 * Starts the target, runs conform, lets `inspect` look at the server (its spool), stops it (also on
 * failure).
 */
export async function runTarget(
  target: ConformTarget,
  inspect?: (server: RealServer | EximServer, report: ConformReport) => Promise<void>,
): Promise<ConformReport> {
  const server = await target.start();
  try {
    const report = await conform(conformOptions(server));
    await inspect?.(server, report);
    return report;
  } finally {
    await server.stop();
  }
}
