/**
 * Process and socket helpers shared by the server launchers: child processes with a
 * captured log, a graceful-then-forceful stop, free ports, waiting for a 220 greeting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of this file (test/conformance/servers). */
export const SERVERS_DIR = dirname(fileURLToPath(import.meta.url));

/** Repository root. */
export const REPO_ROOT = resolve(SERVERS_DIR, '../../..');

/** The test certificates (made by fixtures/certs/make-certs.sh). */
export const CERTS = Object.freeze({
  ca: join(REPO_ROOT, 'fixtures/certs/ca.pem'),
  cert: join(REPO_ROOT, 'fixtures/certs/server.pem'),
  key: join(REPO_ROOT, 'fixtures/certs/server-key.pem'),
  /** A name in the server certificate's subjectAltName. */
  servername: 'localhost',
});

/** The Debian interpreter: pyenv's `python3` on PATH does not have python3-aiosmtpd. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Bytes of child output kept for error messages and logTail(). */
const LOG_LIMIT = 64 * 1024;

/** The CA and name clients need to verify the test certificate every server presents. */
export async function readTestTls(): Promise<{ ca: string; servername: string }> {
  return { ca: await readFile(CERTS.ca, 'utf8'), servername: CERTS.servername };
}

/** Creates a private work directory `$TMPDIR/smtpwire-<name>-XXXXXX`. */
export function makeWorkDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `smtpwire-${name}-`));
}

/** A bounded text log: keeps the last {@link LOG_LIMIT} characters. */
export class LogBuffer {
  #text = '';

  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > LOG_LIMIT) this.#text = this.#text.slice(-LOG_LIMIT);
  }

  tail(lines = 40): string {
    return this.#text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  }
}

/** Last `lines` lines of a file, or a note when it cannot be read. */
export async function tailFile(path: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(cannot read ${path}: ${(err as Error).message})`;
  }
}

/** A child process whose stdout lines are JSON messages and whose other output is logged. */
export interface LoggedChild {
  readonly child: ChildProcess;
  readonly log: LogBuffer;
  /** Resolves with the child's exit code (or 128+signal) once it has exited. */
  readonly exited: Promise<number>;
  /** The first JSON object the child printed on stdout. */
  readonly firstMessage: Promise<Record<string, unknown>>;
}

/**
 * Spawns `command args` with piped stdio. Stdin stays open: the children here treat
 * its EOF as "stop", so they also stop when this process dies.
 * @param input written to stdin first (a JSON config line), if given.
 */
export function spawnLogged(command: string, args: readonly string[], input?: string): LoggedChild {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const log = new LogBuffer();
  let resolveMessage!: (value: Record<string, unknown>) => void;
  let rejectMessage!: (err: Error) => void;
  const firstMessage = new Promise<Record<string, unknown>>((res, rej) => {
    resolveMessage = res;
    rejectMessage = rej;
  });
  // Nobody may be listening yet when the child fails early.
  firstMessage.catch(() => {});
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        resolveMessage(JSON.parse(line) as Record<string, unknown>);
      } catch {
        log.append(`${line}\n`);
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => log.append(chunk));
  // EPIPE on stdin when the child already died is reported through `exited`.
  child.stdin.on('error', () => {});
  const exited = new Promise<number>((res) => {
    child.once('exit', (code, signal) => {
      rejectMessage(new Error(`exited (code ${code}, signal ${signal}) before it was ready`));
      res(code ?? 128);
    });
    child.once('error', (err) => {
      log.append(`spawn error: ${err.message}\n`);
      rejectMessage(err);
      res(127);
    });
  });
  if (input !== undefined) child.stdin.write(input);
  return { child, log, exited, firstMessage };
}

/**
 * Stops a child started by {@link spawnLogged}: closes its stdin (the graceful
 * request), then SIGTERM after `graceMs`, then SIGKILL after as long again.
 */
export async function stopLogged(proc: LoggedChild, graceMs = 5_000): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Referenced again while stopping, so the process waits for the cleanup to finish.
  child.ref();
  child.stdin?.end();
  const steps: NodeJS.Signals[] = ['SIGTERM', 'SIGKILL'];
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      timer = setTimeout(r, graceMs, 'timeout');
    });
    const outcome = await Promise.race([proc.exited, timeout]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return;
    const signal = steps.shift();
    if (signal === undefined) throw new Error(`process ${child.pid} ignores SIGKILL`);
    child.kill(signal);
  }
}

/**
 * Lets this Node process exit although the child still runs: a test that forgets
 * stop() must not hang. The child then sees EOF on stdin and stops itself (its
 * work directory stays behind in that case).
 */
export function detachLogged(proc: LoggedChild): void {
  proc.child.unref();
  for (const stream of [proc.child.stdin, proc.child.stdout, proc.child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1. Postfix needs its ports in
 * master.cf before it starts, so the kernel cannot pick them; callers retry on a clash.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel');
  return address.port;
}

/** Whether `port` on 127.0.0.1 can be bound right now. */
export async function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((res) => {
    server.once('error', () => res(false));
    server.listen(port, '127.0.0.1', () => server.close(() => res(true)));
  });
}

/**
 * Resolves once a plain SMTP server on `port` sends a 220 greeting (RFC 5321 §4.2),
 * then says QUIT. Retries refused connections until `timeoutMs`.
 * @param alive returns false once the server process is known to be dead, to stop early.
 * @throws Error after `timeoutMs`, or when `alive()` turns false.
 */
export async function waitForGreeting(port: number, timeoutMs: number, alive: () => boolean): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the server process exited (last attempt: ${last})`);
    try {
      return await readGreeting(port, Math.max(500, deadline - Date.now()));
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`no 220 greeting on 127.0.0.1:${port} within ${timeoutMs} ms (last attempt: ${last})`);
}

function readGreeting(port: number, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let text = '';
    const fail = (err: Error): void => {
      socket.destroy();
      rej(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error('greeting timeout')));
    socket.setEncoding('latin1');
    socket.on('error', fail);
    socket.on('data', (chunk: string) => {
      text += chunk;
      // The last line of a reply has a space after the code.
      const done = /^(\d{3}) [^\n]*\n/m.exec(text);
      if (done === null) return;
      socket.end('QUIT\r\n');
      socket.setTimeout(0);
      if (done[1] === '220') res(text.trimEnd());
      else rej(new Error(`greeting was not 220: ${text.trimEnd()}`));
    });
    socket.on('end', () => {
      if (!/^\d{3} /m.test(text)) fail(new Error(`closed before a greeting: ${JSON.stringify(text)}`));
    });
  });
}

/** The config line both JSON-protocol children (aiosmtpd, smtp-server) read from stdin. */
export interface ChildServerConfig {
  spool: string;
  cert: string;
  key: string;
  users: ReadonlyArray<{ username: string; password: string }>;
  sizeLimit: number;
  refusedRecipient: string;
  hostname: string;
}

/** What a JSON-protocol child reported once both of its listeners were bound. */
export interface ChildServerPorts {
  proc: LoggedChild;
  port: number;
  tlsPort: number;
}

/**
 * Spawns a server child that reads `config` as one JSON line on stdin and answers
 * `{"ready": true, "port": P, "tlsPort": Q}` on stdout (kernel-chosen ports, no race).
 * @throws Error with the child's log tail when it exits or stays silent for `timeoutMs`.
 */
export async function startJsonChild(
  command: string,
  args: readonly string[],
  config: ChildServerConfig,
  timeoutMs: number,
): Promise<ChildServerPorts> {
  const proc = spawnLogged(command, args, `${JSON.stringify(config)}\n`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_res, rej) => {
    timer = setTimeout(() => rej(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const ready = await Promise.race([proc.firstMessage, timeout]);
    if (ready.ready !== true || typeof ready.port !== 'number' || typeof ready.tlsPort !== 'number') {
      throw new Error(`unexpected ready message ${JSON.stringify(ready)}`);
    }
    detachLogged(proc);
    return { proc, port: ready.port, tlsPort: ready.tlsPort };
  } catch (err) {
    await stopLogged(proc, 2_000).catch(() => {});
    throw Object.assign(err as Error, { logTail: proc.log.tail() });
  } finally {
    clearTimeout(timer);
  }
}
