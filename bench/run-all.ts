/**
 * `npm run bench`: the side-by-side throughput table (issue 6) and the 100 MiB memory runs.
 *
 * Same message, same sink, same run: smtpwire `sendMessage` (MIME built per send, pool), smtpwire
 * `sendRaw`, nodemailer's pooled transport, and Postfix's smtp-source when installed; 1, 4 and 8
 * connections; a 1 KB text message and a 100 KB one with an attachment. Every measurement runs in
 * its own process (bench/worker.ts) so CPU and peak RSS are one client's; each cell is the median
 * of BENCH_REPS runs, and ratios are taken against nodemailer in the same repetition, then the
 * median of those ratios (the machine is noisy: absolute numbers mean little).
 *
 * Environment: BENCH_REPS (default 3), BENCH_MESSAGES_1K (20000), BENCH_MESSAGES_100K (3000), BENCH_WARMUP_1K
 * (3000), BENCH_WARMUP_100K (600),
 * BENCH_CONNECTIONS (1,4,8), BENCH_SIZES (1k,100k), BENCH_MEMORY=0 to skip the memory runs,
 * BENCH_OUT (a Markdown file to write the tables to, default .tmp/bench-results.md),
 * BENCH_SECTIONS (default throughput,memory,load,outbox: which parts to run; load is bench/load.ts, outbox
 * bench/outbox.ts; BENCH_OUTBOX=0 also skips the outbox row).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSection } from './load.js';
import { memoryTable } from './memory.js';
import { outboxTable } from './outbox.js';
import { type Sink, startSink } from './sink.js';
import { median, runWorker } from './spawn-worker.js';
import type { Client, Measurement, ThroughputJob } from './worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const REPS = Number(env('BENCH_REPS', '3'));
const CONNECTIONS = env('BENCH_CONNECTIONS', '1,4,8').split(',').map(Number);
const SIZES = env('BENCH_SIZES', '1k,100k').split(',');
// Steady state, not the JIT: 1 KB runs measure 20,000 messages after 3,000 of warm-up; 100 KB runs (2 GB on
// the wire per 20,000) measure 3,000 after 600.
const MESSAGES: Record<string, number> = {
  '1k': Number(env('BENCH_MESSAGES_1K', '20000')),
  '100k': Number(env('BENCH_MESSAGES_100K', '3000')),
};
const WARMUP: Record<string, number> = {
  '1k': Number(env('BENCH_WARMUP_1K', '3000')),
  '100k': Number(env('BENCH_WARMUP_100K', '600')),
};
const BYTES: Record<string, number> = { '1k': 1024, '100k': 100 * 1024 };
const OUT = env('BENCH_OUT', join(here, '..', '.tmp', 'bench-results.md'));
const SECTIONS = new Set(env('BENCH_SECTIONS', 'throughput,memory,load,outbox').split(','));
const HAS_SOURCE = existsSync('/usr/sbin/smtp-source') && existsSync('/usr/bin/time');
const CLIENTS: Client[] = ['smtpwire', 'smtpwire-raw', 'nodemailer', ...(HAS_SOURCE ? (['smtp-source'] as const) : [])];

interface Cell {
  rate: number;
  cpu: number | null;
  rss: number | null;
  ratio: number | null;
  failed: number;
}

async function throughputTable(sink: Sink): Promise<string> {
  const rows: string[] = [];
  rows.push('| size | conns | client | msg/s (median) | × nodemailer | CPU s / 1,000 msgs | peak RSS MiB | failed |');
  rows.push('|---|---:|---|---:|---:|---:|---:|---:|');
  for (const size of SIZES) {
    for (const connections of CONNECTIONS) {
      const runs = new Map<Client, Measurement[]>(CLIENTS.map((c) => [c, []]));
      const ratios = new Map<Client, number[]>(CLIENTS.map((c) => [c, []]));
      for (let rep = 0; rep < REPS; rep++) {
        // Interleave the clients within a repetition so drift on the machine hits all of them.
        const order = rep % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
        const rep_ = new Map<Client, Measurement>();
        for (const client of order) {
          const messages = MESSAGES[size]!;
          const job: ThroughputJob = {
            kind: 'throughput',
            client,
            port: sink.port,
            connections,
            messages,
            size: BYTES[size]!,
            warmup: WARMUP[size] ?? 600,
          };
          const m = await runWorker(job);
          rep_.set(client, m);
          runs.get(client)!.push(m);
          process.stderr.write(
            `  ${size} ×${connections} ${client.padEnd(12)} rep ${rep + 1}: ${m.messagesPerSecond.toFixed(0)} msg/s, CPU ${m.cpuSecondsPer1000?.toFixed(3) ?? '-'} s/1k\n`,
          );
        }
        const base = rep_.get('nodemailer')!.messagesPerSecond;
        for (const [client, m] of rep_) ratios.get(client)!.push(m.messagesPerSecond / base);
      }
      for (const client of CLIENTS) {
        const ms = runs.get(client)!;
        const cpus = ms.map((m) => m.cpuSecondsPer1000).filter((v): v is number => v !== null);
        const cell: Cell = {
          rate: median(ms.map((m) => m.messagesPerSecond)),
          cpu: cpus.length ? median(cpus) : null,
          rss: median(ms.map((m) => m.peakRssMiB ?? 0)),
          ratio: median(ratios.get(client)!),
          failed: ms.reduce((a, m) => a + m.failed, 0),
        };
        rows.push(
          `| ${size} | ${connections} | ${client} | ${cell.rate.toFixed(0)} | ${cell.ratio!.toFixed(2)} | ${cell.cpu?.toFixed(3) ?? '-'} | ${cell.rss?.toFixed(0) ?? '-'} | ${cell.failed} |`,
        );
      }
    }
  }
  return rows.join('\n');
}

const started = Date.now();
const machine = `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.arch()}`;
const sink = await startSink();
let throughput = '(skipped: BENCH_SECTIONS)';
let load = '(skipped: BENCH_SECTIONS)';
let outbox = '(skipped: BENCH_SECTIONS or BENCH_OUTBOX=0)';
try {
  if (SECTIONS.has('throughput')) {
    process.stderr.write(`throughput against ${sink.name} (${machine}), ${REPS} repetitions per cell\n`);
    throughput = await throughputTable(sink);
  }
  if (SECTIONS.has('load')) {
    process.stderr.write(`load generator against ${sink.name} (${machine})\n`);
    load = await loadSection(sink);
  }
  if (SECTIONS.has('outbox') && env('BENCH_OUTBOX', '1') !== '0') outbox = await outboxTable(sink.port, REPS);
} finally {
  await sink.stop();
}
const memory =
  env('BENCH_MEMORY', '1') === '0' || !SECTIONS.has('memory')
    ? '(skipped: BENCH_MEMORY=0 or BENCH_SECTIONS)'
    : await memoryTable(runWorker);
// Steady state needs ≥ 3,000 warm-up and ≥ 20,000 measured messages (issue 22): say which cells are shorter.
const short = SIZES.filter((s) => (MESSAGES[s] ?? 0) < 20_000 || (WARMUP[s] ?? 0) < 3_000);
const shortNote =
  short.length === 0
    ? ''
    : `\nNote: ${short.map((s) => `${s} (${MESSAGES[s]} measured after ${WARMUP[s]} warm-up)`).join(', ')} ${short.length === 1 ? 'is' : 'are'} shorter than steady state (≥ 20,000 after ≥ 3,000): JIT and connection set-up weigh in more there (100 KB runs are kept short: 2 GB on the wire per 20,000).\n`;
const report = `## Throughput (${new Date().toISOString().slice(0, 10)}, ${machine})

Sink: ${sink.name}. Messages per run: ${SIZES.map((s) => `${s} ${MESSAGES[s]}`).join(', ')} (after a warm-up of ${SIZES.map((s) => `${s} ${WARMUP[s]}`).join(', ')}), ${REPS} runs per cell,
each client in its own process with ${16} sends in flight per connection. "× nodemailer" is the median of the per-repetition ratios.
smtp-source sends without pipelining (\`-d\`: many messages per session) and its CPU comes from /usr/bin/time.
smtpwire's CPU per 1,000 is the measured window's (bench/worker.ts via runBench), nodemailer's the measured run's after its
warm-up; neither pool recycles connections (nodemailer \`maxMessages: Infinity\`, smtpwire \`maxMessagesPerConnection\` unbounded).
${shortNote}
${throughput}

## Load generator (\`smtpwire bench\`, issue 18)

${load}

## Outbox: 1 KB end to end through SmtpOutbox, Redis and outbox-worker processes (bench/outbox.ts)

${outbox}

## Memory: one message with a 100 MiB attachment from a file

${memory}

(total bench time ${((Date.now() - started) / 1000).toFixed(0)} s)
`;
process.stdout.write(`\n${report}`);
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, report);
process.stderr.write(`written to ${OUT}\n`);
