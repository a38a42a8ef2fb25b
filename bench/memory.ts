/**
 * The memory runs: one message with a 100 MiB attachment read from a file, each client in its own
 * process (peak RSS is then that client's), against the normal sink and against a sink that stalls
 * 3 s before reading the data (backpressure must keep memory flat rather than buffer the file).
 * Run alone: `npx tsx bench/memory.ts`; `npm run bench` includes it.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSink } from './sink.js';
import type { Measurement, MemoryJob } from './worker.js';

const ATTACHMENT_BYTES = 100 * 1024 * 1024;
const STALL_MS = 3000;

async function writeFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = randomBytes(1024 * 1024);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Runs the memory jobs through `run` (one process each) and returns a Markdown table. */
export async function memoryTable(run: (job: MemoryJob) => Promise<Measurement>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-mem-'));
  const file = join(dir, 'big.bin');
  const rows = ['| sink | client | wall s | CPU s | peak RSS MiB | failed |', '|---|---|---:|---:|---:|---:|'];
  try {
    await writeFile(file, ATTACHMENT_BYTES);
    for (const stall of [0, STALL_MS]) {
      const sink = await startSink(stall ? { stallMs: stall } : {});
      try {
        for (const client of ['smtpwire', 'nodemailer'] as const) {
          const m = await run({ kind: 'memory', client, port: sink.port, file });
          process.stderr.write(
            `  memory ${sink.name} ${client}: ${m.seconds.toFixed(2)} s, ${m.peakRssMiB?.toFixed(0)} MiB\n`,
          );
          rows.push(
            `| ${sink.name} | ${client} | ${m.seconds.toFixed(2)} | ${((m.cpuSecondsPer1000 ?? 0) / 1000).toFixed(2)} | ${m.peakRssMiB?.toFixed(0) ?? '-'} | ${m.failed} |`,
          );
        }
      } finally {
        await sink.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { runWorker } = await import('./spawn-worker.js');
  process.stdout.write(`${await memoryTable(runWorker)}\n`);
}
