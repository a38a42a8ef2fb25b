/** Runs one bench/worker.ts job in a fresh process and parses the JSON line it prints. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './worker.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'worker.ts');
/** The compiled worker (`npm run bench` builds it with tsconfig.bench.json): plain node, no loader in the hot path. */
const COMPILED_WORKER = join(HERE, '..', '.tmp', 'bench-build', 'bench', 'worker.js');

/** Runs `job` in a fresh worker process (compiled when built, else through tsx). @throws Error when the worker fails. */
export function runWorker(job: object): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const args = existsSync(COMPILED_WORKER)
      ? [COMPILED_WORKER, JSON.stringify(job)]
      : ['--import', 'tsx', WORKER, JSON.stringify(job)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        if (code !== 0) throw new Error(`worker exited with ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!) as Measurement);
      } catch (err) {
        reject(new Error(`${(err as Error).message} for ${JSON.stringify(job)}: ${out}`));
      }
    });
  });
}

/** Median (mean of the middle two for an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
