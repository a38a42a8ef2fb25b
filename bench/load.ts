/**
 * The load-generator rows of `npm run bench` (issue 18), all with the compiled CLI:
 *
 * 1. `smtpwire bench --workers 2 --connections 8 --api raw` (and `--api message`, and the one-thread run)
 *    beside Postfix `smtp-source -d -s 8`, against Postfix `smtp-sink`, interleaved in the same run.
 * 2. Open vs closed loop against the sink behind a proxy that holds its replies for 1 s in a 10 s run at
 *    `--rate 2000` (bench/stall-proxy.ts).
 * 3. Memory: peak RSS of a 10⁵ and a 10⁶ message run (the histogram keeps it flat).
 *
 * Environment: BENCH_LOAD_MESSAGES (30000), BENCH_REPS (3), BENCH_LOAD_MILLION=0 skips the 10⁶ run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../src/cli/bench/run.js';
import type { Sink } from './sink.js';
import { median, runWorker } from './spawn-worker.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD = join(HERE, '..', '.tmp', 'bench-build');
const CLI = join(BUILD, 'src', 'cli', 'main.js');
const STALL_PROXY = join(BUILD, 'bench', 'stall-proxy.js');
const MESSAGES = Number(process.env.BENCH_LOAD_MESSAGES ?? 30_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const MILLION = process.env.BENCH_LOAD_MILLION !== '0';

/** Runs the compiled `smtpwire bench … --json` and parses its report. */
function smtpwireBench(args: string[]): Promise<BenchReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'bench', ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        resolve(JSON.parse(out) as BenchReport);
      } catch {
        reject(new Error(`smtpwire bench ${args.join(' ')} exited with ${code}: ${out}`));
      }
    });
  });
}

interface Row {
  label: string;
  rates: number[];
  cpu: number[];
  rss: number[];
  p99: number[];
  failed: number;
}

async function sideBySide(sink: Sink): Promise<string> {
  const target = `127.0.0.1:${sink.port}`;
  const warm = String(Math.floor(MESSAGES / 10));
  const smtpwire = (extra: string[]) => async (): Promise<[number, number | null, number, number | null, number]> => {
    const r = await smtpwireBench([target, '--messages', String(MESSAGES), '--warmup-messages', warm, ...extra]);
    return [r.messagesPerSecond ?? 0, r.cpuSecondsPer1000, r.peakRssMiB, r.latency.p99, r.failed];
  };
  const clients: [string, () => Promise<[number, number | null, number, number | null, number]>][] = [
    [
      'smtp-source -d -s 8',
      async () => {
        const m = await runWorker({
          kind: 'throughput',
          client: 'smtp-source',
          port: sink.port,
          connections: 8,
          messages: MESSAGES,
          size: 1024,
          warmup: 0,
        });
        return [m.messagesPerSecond, m.cpuSecondsPer1000, m.peakRssMiB ?? 0, null, m.failed];
      },
    ],
    [
      'smtpwire bench --workers 2 --connections 8 --api raw',
      smtpwire(['--workers', '2', '--connections', '8', '--api', 'raw']),
    ],
    [
      'smtpwire bench --workers 2 --connections 8 --api message',
      smtpwire(['--workers', '2', '--connections', '8', '--api', 'message']),
    ],
    ['smtpwire bench --connections 8 --api raw (one thread)', smtpwire(['--connections', '8', '--api', 'raw'])],
  ];
  const rows = new Map<string, Row>(
    clients.map(([label]) => [label, { label, rates: [], cpu: [], rss: [], p99: [], failed: 0 }]),
  );
  const ratios = new Map<string, number[]>(clients.map(([label]) => [label, []]));
  for (let rep = 0; rep < REPS; rep++) {
    const order = rep % 2 === 0 ? clients : [...clients].reverse();
    const got = new Map<string, number>();
    for (const [label, runOne] of order) {
      const [rate, cpu, rss, p99, failed] = await runOne();
      const row = rows.get(label)!;
      row.rates.push(rate);
      if (cpu !== null) row.cpu.push(cpu);
      row.rss.push(rss);
      if (p99 !== null) row.p99.push(p99);
      row.failed += failed;
      got.set(label, rate);
      process.stderr.write(`  load rep ${rep + 1} ${label}: ${rate.toFixed(0)} msg/s\n`);
    }
    const base = got.get(clients[0]![0])!;
    for (const [label, rate] of got) ratios.get(label)!.push(rate / base);
  }
  const lines = [
    '| client | msg/s (median) | × smtp-source | CPU s / 1,000 msgs | p99 ms | peak RSS MiB | failed |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows.values()) {
    lines.push(
      `| \`${row.label}\` | ${median(row.rates).toFixed(0)} | ${median(ratios.get(row.label)!).toFixed(2)} | ${row.cpu.length ? median(row.cpu).toFixed(3) : '-'} | ${row.p99.length ? median(row.p99).toFixed(1) : '-'} | ${median(row.rss).toFixed(0)} | ${row.failed} |`,
    );
  }
  return lines.join('\n');
}

/** Starts the stalling proxy in front of the sink and reads its port. */
async function stallProxy(sink: Sink): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [STALL_PROXY, String(sink.port), '4000', '1000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const m = /^port (\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`stall proxy: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`stall proxy exited with ${code}`)));
  });
  return { port, child };
}

async function openVersusClosed(sink: Sink): Promise<string> {
  const lines = [
    '| mode | sent | achieved msg/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [label, extra] of [
    ['open loop, `--rate 2000`', ['--rate', '2000']],
    ['closed loop', []],
  ] as const) {
    const { port, child } = await stallProxy(sink);
    try {
      const r = await smtpwireBench([
        `127.0.0.1:${port}`,
        '--duration',
        '10',
        '--workers',
        '2',
        '--connections',
        '8',
        '--api',
        'raw',
        // The stall is timed from the proxy's start: no warm-up, so it falls where the table says.
        '--warmup-messages',
        '0',
        ...extra,
      ]);
      const l = r.latency;
      lines.push(
        `| ${label} | ${r.messages} | ${r.rate.achieved?.toFixed(0) ?? '-'} | ${l.p50.toFixed(1)} | ${l.p90.toFixed(1)} | ${l.p99.toFixed(1)} | ${l.p999.toFixed(1)} | ${l.max.toFixed(1)} |`,
      );
      process.stderr.write(`  stall ${label}: p99 ${l.p99.toFixed(1)} ms\n`);
    } finally {
      child.kill('SIGTERM');
    }
  }
  return lines.join('\n');
}

async function memory(sink: Sink): Promise<string> {
  const lines = ['| messages | msg/s | peak RSS MiB |', '|---:|---:|---:|'];
  for (const n of MILLION ? [100_000, 1_000_000] : [100_000]) {
    const r = await smtpwireBench([
      `127.0.0.1:${sink.port}`,
      '--messages',
      String(n),
      '--workers',
      '2',
      '--connections',
      '8',
      '--api',
      'raw',
    ]);
    lines.push(
      `| ${n.toLocaleString('en')} | ${r.messagesPerSecond?.toFixed(0) ?? '-'} | ${r.peakRssMiB.toFixed(0)} |`,
    );
    process.stderr.write(`  memory ${n}: ${r.peakRssMiB.toFixed(0)} MiB\n`);
  }
  return lines.join('\n');
}

/** The load section of the bench report (Markdown). */
export async function loadSection(sink: Sink): Promise<string> {
  if (!existsSync(CLI) || !existsSync(STALL_PROXY))
    return '(skipped: run through `npm run bench`, which compiles first)';
  const hasSource = existsSync('/usr/sbin/smtp-source') && existsSync('/usr/bin/time');
  const table = hasSource ? await sideBySide(sink) : '(skipped: Postfix smtp-source is not installed)';
  const stall = await openVersusClosed(sink);
  const mem = await memory(sink);
  return `### Side by side against ${sink.name}: ${MESSAGES.toLocaleString('en')} × 1 KB, ${REPS} runs each, interleaved

smtpwire figures exclude a warm-up of a tenth; smtp-source's include its start-up (a few ms).

${table}

### Open vs closed loop: the sink stops answering for 1 s (a proxy holds its replies), 4 s into a 10 s run (2 workers, 8 connections)

${stall}

### Memory: peak RSS (all threads) by run length, 2 workers, 8 connections, raw

${mem}`;
}
