/**
 * Entry point of the real-server harness: which servers can run here, and starting
 * one by name. See test/conformance/README.md.
 *
 * ```ts
 * const availability = await availableServers();
 * const server = await startServer('postfix');   // RealServer
 * // ... send to server.host:server.port, then:
 * const [msg] = await server.waitForMessages(1);
 * await server.stop();
 * ```
 */
import { execFile } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { startAiosmtpd } from './aiosmtpd.js';
import { POSTCONF_BIN, POSTFIX_BIN, SASLPASSWD2_BIN, startPostfix } from './postfix.js';
import { CERTS, SYSTEM_PYTHON } from './process.js';
import { startSmtpServerProcess } from './smtp-server-process.js';
import { type RealServer, SERVER_NAMES, type ServerName, type StartOptions } from './types.js';

export { startAiosmtpd } from './aiosmtpd.js';
export { startPostfix } from './postfix.js';
export { startSmtpServerProcess } from './smtp-server-process.js';
export { stripAddedHeaders, toCrlf } from './spool.js';
export * from './types.js';

const run = promisify(execFile);

/** Whether a server can start here, and if not, why. */
export interface ServerAvailability<N extends string = ServerName> {
  readonly name: N;
  readonly available: boolean;
  /** Set when `available` is false: what is missing and how to get it. */
  readonly reason?: string;
}

/** Debian's Cyrus SASL plugin directories (multiarch first). */
const SASL_PLUGIN_DIRS = ['/usr/lib/x86_64-linux-gnu/sasl2', '/usr/lib/aarch64-linux-gnu/sasl2', '/usr/lib/sasl2'];

/** The hint every "missing" reason ends with. */
const INSTALL_HINT = 'run .ci/install-servers.sh as root';

async function missing(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    try {
      await access(path, constants.X_OK | constants.R_OK);
    } catch {
      out.push(path);
    }
  }
  return out;
}

async function certProblem(): Promise<string | undefined> {
  const absent = [];
  for (const path of [CERTS.ca, CERTS.cert, CERTS.key]) {
    try {
      await access(path, constants.R_OK);
    } catch {
      absent.push(path);
    }
  }
  return absent.length
    ? `test certificates missing: ${absent.join(', ')} (run fixtures/certs/make-certs.sh)`
    : undefined;
}

async function checkPostfix(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'Postfix master(8) must run as root; this process is not root';
  const absent = await missing([POSTFIX_BIN, POSTCONF_BIN, SASLPASSWD2_BIN, SYSTEM_PYTHON]);
  if (absent.length) return `not installed: ${absent.join(', ')} (${INSTALL_HINT})`;
  const plugins = new Set<string>();
  for (const dir of SASL_PLUGIN_DIRS) {
    for (const file of await readdir(dir).catch(() => [] as string[])) plugins.add(file);
  }
  const needed = ['libsasldb.so', 'libplain.so', 'liblogin.so', 'libcrammd5.so'].filter((p) => !plugins.has(p));
  if (needed.length) return `Cyrus SASL plugins missing: ${needed.join(', ')} (libsasl2-modules; ${INSTALL_HINT})`;
  try {
    await run('id', ['-u', 'postfix']);
    await run('id', ['-u', 'nobody']);
  } catch {
    return `users postfix and nobody must exist (${INSTALL_HINT})`;
  }
  return undefined;
}

async function checkAiosmtpd(): Promise<string | undefined> {
  try {
    await run(SYSTEM_PYTHON, ['-c', 'import aiosmtpd.smtp'], { timeout: 15_000 });
    return undefined;
  } catch (err) {
    return `${SYSTEM_PYTHON} cannot import aiosmtpd (python3-aiosmtpd; ${INSTALL_HINT}): ${(err as Error).message.split('\n')[0]}`;
  }
}

async function checkSmtpServer(): Promise<string | undefined> {
  try {
    createRequire(import.meta.url).resolve('smtp-server');
    return undefined;
  } catch {
    return 'the smtp-server dev dependency is not installed (npm ci)';
  }
}

const CHECKS: Record<ServerName, () => Promise<string | undefined>> = {
  postfix: checkPostfix,
  aiosmtpd: checkAiosmtpd,
  'smtp-server': checkSmtpServer,
};

const STARTERS: Record<ServerName, (opts?: StartOptions) => Promise<RealServer>> = {
  postfix: startPostfix,
  aiosmtpd: startAiosmtpd,
  'smtp-server': startSmtpServerProcess,
};

/**
 * Which servers can be started on this machine (tools present, root where needed,
 * test certificates present). It does not start anything; a server listed as
 * available may still fail in {@link startServer} with a ServerStartError.
 */
export async function availableServers(): Promise<ServerAvailability[]> {
  const certs = await certProblem();
  return Promise.all(
    SERVER_NAMES.map(async (name): Promise<ServerAvailability> => {
      const reason = certs ?? (await CHECKS[name]());
      return reason === undefined ? { name, available: true } : { name, available: false, reason };
    }),
  );
}

/**
 * Starts the named server on 127.0.0.1.
 * @throws ServerStartError carrying the server's log tail.
 */
export function startServer(name: ServerName, opts?: StartOptions): Promise<RealServer> {
  return STARTERS[name](opts);
}

/**
 * True when an unavailable server must fail the suite instead of being skipped:
 * `SMTPWIRE_REQUIRE_REAL_SERVERS=1`, or `CI` set (CI installs every server).
 */
export function realServersRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SMTPWIRE_REQUIRE_REAL_SERVERS !== undefined) return env.SMTPWIRE_REQUIRE_REAL_SERVERS === '1';
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
}

/** A banner that cannot be missed in test output, naming a skipped server and why. */
export function unavailableBanner(entry: ServerAvailability<string>): string {
  const line = '!'.repeat(78);
  return [
    line,
    `!!! REAL-SERVER CONFORMANCE: ${entry.name} IS NOT AVAILABLE, ITS TESTS ARE SKIPPED`,
    `!!! reason: ${entry.reason ?? 'unknown'}`,
    '!!! set SMTPWIRE_REQUIRE_REAL_SERVERS=1 (or CI=true) to make this a failure',
    line,
  ].join('\n');
}
