/**
 * A private redis-server for one test file: its own temp dir, a free 127.0.0.1 port, `appendonly yes`,
 * `appendfsync always` (every acknowledged write is on disk; `everysec` for benchmarks), no RDB snapshots. `kill()` is SIGKILL;
 * `restart()` starts it again on the same port from its AOF.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { ServerAvailability } from '../conformance/servers/index.js';
import { CERTS, freePort } from '../conformance/servers/process.js';
import { killOnExit } from './orphans.js';

export const REDIS_SERVER_BIN = '/usr/bin/redis-server';

/** Whether redis-server can run here (for `reportUnavailable`). */
export async function redisAvailability(): Promise<ServerAvailability> {
  try {
    await access(REDIS_SERVER_BIN, constants.X_OK);
    return { name: 'redis-server' as never, available: true };
  } catch {
    return {
      name: 'redis-server' as never,
      available: false,
      reason: `${REDIS_SERVER_BIN} not installed (redis-server; run .ci/install-servers.sh as root)`,
    };
  }
}

export interface RedisInstance {
  readonly port: number;
  /** The current process id (changes with `restart()`). */
  readonly pid: number;
  readonly url: string;
  readonly dir: string;
  /** SIGKILL: no shutdown, no final fsync beyond what appendfsync always already did. */
  kill(): Promise<void>;
  /** Starts again on the same port and directory (loading the AOF). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * What every test Redis runs with after its port arguments: loopback only, its own directory, every
 * acknowledged write in the AOF (`always`; `everysec` for benchmarks), no RDB snapshots.
 */
export function durableArgs(dir: string, appendfsync: 'always' | 'everysec' = 'always'): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    appendfsync,
    '--save',
    '',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
  ];
}

/** Spawns a Redis binary, SIGKILLed if the test process exits first, with its last output for error messages. */
export function spawnRedis(bin: string, args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  killOnExit(child);
  child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  return { child, log: () => log };
}

async function waitForPort(
  port: number,
  tls: boolean,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tls
        ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
        : createConnection({ port, host: '127.0.0.1' });
      s.once(tls ? 'secureConnect' : 'connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          // -NOAUTH: up, with requirepass.
          resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
        });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * @param appendfsync `always` (default: every acknowledged write is on disk) or `everysec` (benchmarks).
 * @param tls listen with TLS only (the test certificates, fixtures/certs) instead of plain TCP.
 * @param password `requirepass`.
 */
export async function startRedis({
  appendfsync = 'always',
  tls = false,
  password,
}: {
  appendfsync?: 'always' | 'everysec';
  tls?: boolean;
  password?: string;
} = {}): Promise<RedisInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'smtpwire-redis-'));
  const port = await freePort();
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    const p = spawnRedis(REDIS_SERVER_BIN, [
      ...(tls
        ? [
            '--port',
            '0',
            '--tls-port',
            String(port),
            '--tls-cert-file',
            CERTS.cert,
            '--tls-key-file',
            CERTS.key,
            '--tls-ca-cert-file',
            CERTS.ca,
            '--tls-auth-clients',
            'no',
          ]
        : ['--port', String(port)]),
      ...(password === undefined ? [] : ['--requirepass', password]),
      ...durableArgs(dir, appendfsync),
    ]);
    child = p.child;
    await waitForPort(port, tls, child, p.log);
  };
  const exited = (): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once('exit', () => resolve()));
  await launch();
  return {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    dir,
    get pid() {
      return child.pid ?? 0;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited();
    },
    restart: launch,
    async stop() {
      child.kill('SIGKILL');
      await exited();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
