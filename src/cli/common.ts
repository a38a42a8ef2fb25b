/**
 * Shared pieces of the command-line tool: the exit codes, usage errors, `host[:port]` targets,
 * encryption flags and password input (environment variable or a prompt that does not echo).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { AUTH_METHODS, type AuthMethod, type SmtpEncryption } from './api.js';

/** Exit codes: everything fine, warnings only, failure (also used for usage errors). */
export const EXIT_OK = 0;
/** Some check warned, some recipient or message failed. */
export const EXIT_WARNINGS = 1;
/** Failure, or a usage error. */
export const EXIT_FAILURE = 2;

/** Where a command writes; tests and embedding callers pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  env: NodeJS.ProcessEnv;
}

/** A wrong command line: printed with a hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A parsed `host[:port]`; port undefined when not given (the command's default applies). */
export interface Target {
  host: string;
  port: number | undefined;
}

/**
 * Parses `host`, `host:port`, `[v6]` or `[v6]:port`. A bare IPv6 address (two or more colons) has no port.
 * @throws UsageError for an empty host or a port outside 1..65535.
 */
export function parseTarget(text: string | undefined): Target {
  if (text === undefined || text.trim() === '') throw new UsageError('a server is required: host[:port]');
  let host = text.trim();
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if ((host.match(/:/g) ?? []).length === 1) {
    const i = host.lastIndexOf(':');
    portText = host.slice(i + 1);
    host = host.slice(0, i);
  }
  if (host === '' || /[\s<>\0]/.test(host)) throw new UsageError(`not a host: ${JSON.stringify(text)}`);
  if (portText === undefined) return { host, port: undefined };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`not a port: ${JSON.stringify(portText)}`);
  return { host, port };
}

/**
 * The encryption from `--encryption none|tls|ssl` (the library's own names: `tls` is STARTTLS, `ssl`
 * implicit TLS) or its aliases `--starttls`, `--ssl` and `--plain`. Undefined when none is given (the
 * command's default applies). A bare `--tls` is refused: it meant implicit TLS here and STARTTLS in
 * the library, so it would always surprise someone.
 * @throws UsageError for an unknown value, `--tls`, or two different choices.
 */
export function encryptionFlag(values: {
  encryption?: string;
  starttls?: boolean;
  ssl?: boolean;
  plain?: boolean;
  tls?: boolean;
}): SmtpEncryption | undefined {
  if (values.tls) {
    throw new UsageError(
      '--tls is ambiguous: write --encryption ssl (implicit TLS, port 465) or --encryption tls (STARTTLS, port 587)',
    );
  }
  const given = values.encryption;
  if (given !== undefined && given !== 'none' && given !== 'tls' && given !== 'ssl') {
    throw new UsageError(
      `--encryption must be none, tls (STARTTLS) or ssl (implicit TLS), not ${JSON.stringify(given)}`,
    );
  }
  const chosen = new Set(
    [given, values.starttls && 'tls', values.ssl && 'ssl', values.plain && 'none'].filter(
      (v): v is SmtpEncryption => typeof v === 'string',
    ),
  );
  if (chosen.size > 1)
    throw new UsageError('choose one encryption: --encryption none|tls|ssl (or --plain, --starttls, --ssl)');
  return [...chosen][0];
}

/** Usage text for the encryption flags, for every command that connects. */
export const ENCRYPTION_USAGE = '[--encryption none|tls|ssl | --plain | --starttls | --ssl]';

/**
 * The parseArgs options every command that connects shares: encryption, certificate checks and
 * credentials. Read them back with {@link encryptionFlag}, {@link tlsFlags} and {@link readPassword}.
 * (`tls` is declared only to refuse it with a clear message.)
 */
export const CONNECTION_OPTIONS = {
  encryption: { type: 'string' },
  starttls: { type: 'boolean' },
  ssl: { type: 'boolean' },
  plain: { type: 'boolean' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  user: { type: 'string' },
  'pass-env': { type: 'string' },
} as const;

/** `--auth-method M`, any of the library's AUTH methods (case-insensitive). @throws UsageError. */
export function authMethodFlag(value: string | undefined): AuthMethod | undefined {
  if (value === undefined) return undefined;
  const method = value.toUpperCase();
  if (!(AUTH_METHODS as readonly string[]).includes(method))
    throw new UsageError(`--auth-method must be one of ${AUTH_METHODS.join(', ')}`);
  return method as AuthMethod;
}

/** TLS options from `--ca FILE` and `--insecure`. */
export function tlsFlags(values: {
  ca?: string;
  insecure?: boolean;
}): { ca?: string; rejectUnauthorized?: boolean } | undefined {
  if (values.ca === undefined && !values.insecure) return undefined;
  return {
    ...(values.ca === undefined ? {} : { ca: readFileSync(values.ca, 'utf8') }),
    ...(values.insecure ? { rejectUnauthorized: false } : {}),
  };
}

/** A positive integer option. @throws UsageError. */
export function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}

/** A positive number (seconds and the like). @throws UsageError. */
export function positiveNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive number, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * The password for `--user`: from `--pass-env VAR` when given (never from the command line, where
 * `ps` and shell history would show it), else a prompt on a terminal with echo off, else none.
 * @throws UsageError when the variable is unset.
 */
export async function readPassword(
  io: CliIo,
  user: string | undefined,
  passEnv: string | undefined,
): Promise<string | undefined> {
  if (user === undefined) {
    if (passEnv !== undefined) throw new UsageError('--pass-env needs --user');
    return undefined;
  }
  if (passEnv !== undefined) {
    const value = io.env[passEnv];
    if (value === undefined) throw new UsageError(`environment variable ${passEnv} is not set`);
    return value;
  }
  if (!io.stdin.isTTY || typeof io.stdin.setRawMode !== 'function') {
    throw new UsageError('--user needs --pass-env VAR when standard input is not a terminal');
  }
  return promptHidden(io, `Password for ${user}: `);
}

/** Reads one line from a TTY in raw mode without echoing it. Ctrl-C aborts with exit 130. */
function promptHidden(io: CliIo, question: string): Promise<string> {
  const stdin = io.stdin;
  io.stderr.write(question);
  return new Promise((resolve) => {
    let answer = '';
    stdin.setRawMode!(true);
    stdin.resume();
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(answer);
          return;
        }
        if (ch === '\u0003') {
          done();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      io.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

/** `1.23 ms`, for timings. */
export function ms(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

/** Bytes from `1k`, `100k`, `2m`, `1500`. @throws UsageError. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmM]?)[bB]?$/.exec(text.trim());
  if (!m) throw new UsageError(`--size must be like 1k, 100k, 2m or a byte count, not ${JSON.stringify(text)}`);
  const unit = m[2]!.toLowerCase() === 'k' ? 1024 : m[2]!.toLowerCase() === 'm' ? 1024 * 1024 : 1;
  const n = Math.round(Number(m[1]) * unit);
  if (n < 200) throw new UsageError('--size must be at least 200 bytes (headers included)');
  return n;
}

/** Where to connect and as whom, as `probe` and `conform` both take it. */
export interface ServerOptions {
  host: string;
  port?: number;
  encryption?: SmtpEncryption;
  tls?: tls.ConnectionOptions;
  username?: string;
  password?: string;
  authMethod?: AuthMethod;
  clientName?: string;
}

/**
 * The server options from `host[:port]` and the shared connection flags (`--encryption`, `--ca`, `--insecure`,
 * `--user`/`--pass-env`, `--auth-method`, `--name`), only those given. @throws UsageError.
 */
export async function serverOptions(
  io: CliIo,
  positional: string | undefined,
  values: {
    encryption?: string;
    starttls?: boolean;
    ssl?: boolean;
    plain?: boolean;
    tls?: boolean;
    ca?: string;
    insecure?: boolean;
    user?: string;
    'pass-env'?: string;
    'auth-method'?: string;
    name?: string;
  },
): Promise<ServerOptions> {
  const target = parseTarget(positional);
  const encryption = encryptionFlag(values);
  const password = await readPassword(io, values.user, values['pass-env']);
  const authMethod = authMethodFlag(values['auth-method']);
  const tlsOptions = tlsFlags(values);
  return {
    host: target.host,
    ...(target.port === undefined ? {} : { port: target.port }),
    ...(encryption === undefined ? {} : { encryption }),
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
    ...(values.user === undefined ? {} : { username: values.user }),
    ...(password === undefined ? {} : { password }),
    ...(authMethod === undefined ? {} : { authMethod }),
    ...(values.name === undefined ? {} : { clientName: values.name }),
  };
}
