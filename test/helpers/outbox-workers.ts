/**
 * Outbox worker processes for the crash tests: `smtpwire outbox-worker` from a compiled build of src/
 * (plain node starts in ~0.3 s of CPU; tsx would double that, and the crash test starts a worker every
 * ~300 ms). The build goes under the repository's .tmp/ so the workers resolve bullmq from node_modules.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { killOnExit } from './orphans.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Compiles src/ once into a fresh directory; returns its path and a cleanup. */
export async function buildForWorkers(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const base = join(ROOT, '.tmp');
  await import('node:fs/promises').then((fs) => fs.mkdir(base, { recursive: true }));
  const dir = await mkdtemp(join(base, 'outbox-build-'));
  await promisify(execFile)(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      dir,
      '--declaration',
      'false',
      '--sourceMap',
      'false',
      // The build config inlines sources into its maps; with no maps there is nothing to inline.
      '--inlineSources',
      'false',
    ],
    { cwd: ROOT, timeout: 120_000 },
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** One worker process. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Resolves when the worker printed its ready line (rejects if it exits first). */
  readonly ready: Promise<void>;
  isReady(): boolean;
  readonly exited: Promise<number | null>;
  log(): string;
}

/** Starts `smtpwire outbox-worker …args` from the build. */
export function spawnWorker(buildDir: string, args: readonly string[]): WorkerProcess {
  // SMTPWIRE_WORKER_NODE_ARGS: node flags for the workers alone (e.g. `--cpu-prof` in a benchmark).
  const nodeArgs = (process.env.SMTPWIRE_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(buildDir, 'cli/main.js'), 'outbox-worker', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let ready = false;
  // Never outlive the test process (afterEach kills them; this covers an aborted run).
  killOnExit(child);
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      r(code);
    }),
  );
  const readyPromise = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
      if (!ready && out.includes('outbox-worker ready')) {
        ready = true;
        res();
      }
    });
    child.once('exit', (code, signal) => rej(new Error(`worker exited (${code ?? signal}) before ready:\n${out}`)));
  });
  readyPromise.catch(() => {});
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  return { child, ready: readyPromise, isReady: () => ready, exited, log: () => out };
}
