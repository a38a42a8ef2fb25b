/**
 * A private PostgreSQL server for one test file: `initdb` in its own temp dir, a free 127.0.0.1 port (the
 * unix socket in the same dir), `fsync = on`, `synchronous_commit = on`. PostgreSQL refuses to run as root:
 * when the tests run as root (CI), initdb and the server run as `nobody`, owning the dir.
 * `crash()` is an immediate shutdown (SIGQUIT: no checkpoint, the next start replays the WAL, as after a crash);
 * `restart()` starts it again on the same port and directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { access, chown, constants, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerAvailability } from '../conformance/servers/index.js';
import { freePort } from '../conformance/servers/process.js';
import { killOnExit } from './orphans.js';

const PG_LIB = '/usr/lib/postgresql';

/** The newest Debian PostgreSQL's bin directory, or null. */
async function binDir(): Promise<string | null> {
  const versions = await readdir(PG_LIB).catch(() => [] as string[]);
  for (const v of versions.filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a))) {
    const dir = join(PG_LIB, v, 'bin');
    const ok = await access(join(dir, 'postgres'), constants.X_OK)
      .then(() => access(join(dir, 'initdb'), constants.X_OK))
      .then(
        () => true,
        () => false,
      );
    if (ok) return dir;
  }
  return null;
}

/** Whether PostgreSQL can run here (for `reportUnavailable`). */
export async function postgresAvailability(): Promise<ServerAvailability> {
  const bin = await binDir();
  if (!bin)
    return {
      name: 'postgresql' as never,
      available: false,
      reason: `no ${PG_LIB}/<version>/bin/{postgres,initdb} (postgresql; run .ci/install-servers.sh as root)`,
    };
  // Installed is not enough: initdb runs `postgres -V` through the shell, as the user the server runs as.
  const user = await runAs().catch(() => null);
  const works = await run('/bin/sh', ['-c', `"${join(bin, 'postgres')}" -V`], user).then(
    () => null,
    (err: Error) => err.message.split('\n').slice(0, 2).join(' '),
  );
  if (works === null) return { name: 'postgresql' as never, available: true };
  return {
    name: 'postgresql' as never,
    available: false,
    reason: `${join(bin, 'postgres')} cannot run here: ${works}`,
  };
}

export interface PostgresInstance {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Immediate shutdown (SIGQUIT): what is committed is in the WAL, nothing else is flushed. */
  crash(): Promise<void>;
  /** Starts again on the same port and directory (replaying the WAL). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** uid/gid of `nobody` when running as root (PostgreSQL refuses root), else nothing to change. */
async function runAs(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('nobody:'));
  if (!line) throw new Error('running as root and there is no nobody user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, args: string[], user: { uid: number; gid: number } | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${bin} exited ${code}:\n${out}`))));
  });
}

export async function startPostgres(): Promise<PostgresInstance> {
  const bin = await binDir();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const user = await runAs();
  // /tmp when running as root: nobody must reach the directory (a TMPDIR under a 0700 home would not do), and
  // the unix socket's path must stay short (~100 bytes at most).
  const dir = await mkdtemp(join(user ? '/tmp' : tmpdir(), 'smtpwire-pg-'));
  if (user) await chown(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  await run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions'],
    user,
  );
  const port = await freePort();
  let child: ChildProcess;
  let log = '';
  const launch = async (): Promise<void> => {
    log = '';
    child = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=on',
        '-c',
        'synchronous_commit=on',
        '-c',
        'max_connections=200',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) },
    );
    killOnExit(child, 'SIGQUIT');
    child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
    child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
    const deadline = Date.now() + 20_000;
    while (!/ready to accept connections/.test(log)) {
      if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}):\n${log}`);
      if (Date.now() > deadline) throw new Error(`postgres did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const exited = (): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => child.once('exit', () => r()));
  await launch();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    get pid() {
      return child.pid!;
    },
    async crash() {
      child.kill('SIGQUIT');
      await exited();
    },
    restart: launch,
    async stop() {
      // Fast shutdown: sessions are ended, no wait for clients to leave.
      child.kill('SIGINT');
      await exited();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
