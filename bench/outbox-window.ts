/**
 * The false-UNKNOWN window measured directly (issue 24), without killing anything: for every job, from the moment
 * Redis runs its hand-over claim (Redis `MONITOR`'s timestamp) to the moment its final dot reaches the SMTP sink
 * (a minimal sink in this process, stamped on arrival). A worker killed inside that window leaves a claim whose dot
 * never left: a false UNKNOWN. So the expected false UNKNOWNs per kill are the killed worker's claims per second ×
 * the mean window (Little's law); this bench gives the window with thousands of samples where the kill bench
 * (bench/outbox-unknowns.ts) gives a few dozen kills.
 *
 *   npx tsx bench/outbox-window.ts [name=buildDir,…]      (no argument: this checkout's src/, compiled)
 *
 * Rounds alternate between the builds. Each round queues BENCH_WINDOW_MESSAGES (3000) 1 KB messages, then starts
 * BENCH_WINDOW_WORKERS (2) `outbox-worker` processes (`--concurrency` BENCH_WINDOW_CONCURRENCY 16, `--pool`
 * BENCH_WINDOW_POOL 4) and waits for all; the first 500 jobs of a round are warm-up. Redis `appendfsync always`.
 * MONITOR costs Redis CPU; its stream goes to a file through `redis-cli monitor` and is read after the round, so
 * this process runs nothing but the sink meanwhile (parsing the stream here delayed the sink's replies, and more
 * so for a build writing more segments).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { loadavg } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SmtpOutbox } from '../src/outbox/index.js';
import { spawnWorker, type WorkerProcess } from '../test/helpers/outbox-workers.js';
import { startRedis } from '../test/helpers/redis.js';
import { buildsFrom, roundOrder } from './ab-builds.js';

const env = (name: string, fallback: string): number => Number(process.env[name] ?? fallback);
const ROUNDS = env('BENCH_WINDOW_ROUNDS', '3');
const MESSAGES = env('BENCH_WINDOW_MESSAGES', '3000');
/** BENCH_WINDOW_MONITOR=0: no MONITOR (no window figures), for the rate alone. */
const MONITOR = process.env.BENCH_WINDOW_MONITOR !== '0';
const WORKERS = env('BENCH_WINDOW_WORKERS', '2');
const CONCURRENCY = env('BENCH_WINDOW_CONCURRENCY', '16');
const POOL = env('BENCH_WINDOW_POOL', '4');
const WARMUP = 500;

/** Wall-clock ms with µs resolution (comparable with MONITOR's Unix timestamps). */
const now = (): number => performance.timeOrigin + performance.now();

/** A discard SMTP sink that notes when each message's final dot arrived, by Message-ID. */
async function startSink(): Promise<{ port: number; dots: Map<string, number>; close(): Promise<void> }> {
  const dots = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    let buf = '';
    let data = false;
    socket.write('220 sink\r\n');
    socket.on('data', (chunk: Buffer) => {
      const at = now();
      buf += chunk.toString('latin1');
      let out = '';
      for (;;) {
        if (data) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) break;
          const id = /^Message-ID: (<[^>]+>)/im.exec(buf.slice(0, end))?.[1];
          if (id) dots.set(id, at);
          buf = buf.slice(end + 5);
          data = false;
          out += '250 ok\r\n';
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) break;
        const verb = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(eol + 2);
        if (verb === 'EHLO') out += '250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n';
        else if (verb === 'DATA') {
          data = true;
          out += '354 go\r\n';
        } else if (verb === 'QUIT') {
          socket.end('221 bye\r\n');
          return;
        } else out += '250 ok\r\n';
      }
      if (out) socket.write(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    dots,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

interface Round {
  windows: number[];
  rate: number;
}

async function round(buildDir: string, redisPort: number, url: string, queueName: string): Promise<Round> {
  const sink = await startSink();
  const claims = new Map<string, number>();
  const file = `${process.env.TMPDIR ?? '/tmp'}/smtpwire-monitor-${process.pid}-${queueName}.txt`;
  const fd = openSync(file, 'w');
  const monitor = MONITOR
    ? spawn('redis-cli', ['-p', String(redisPort), 'monitor'], { stdio: ['ignore', fd, 'ignore'] })
    : null;
  if (monitor) await new Promise((r) => setTimeout(r, 300));
  const outbox = new SmtpOutbox({ connection: url, queueName });
  const queueClient = new Redis(redisPort, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: queueClient as never });
  const workers: WorkerProcess[] = [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i += 100)
      ids.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(100, MESSAGES - i) }, (_, k) =>
            outbox.send({
              fromAddress: 'bench@smtpwire.example',
              toAddresses: ['sink@smtpwire.example'],
              subject: `window ${i + k}`,
              textBody: `message ${i + k}\n${'x'.repeat(900)}`,
            }),
          ),
        )),
      );
    const t0 = performance.now();
    for (let i = 0; i < WORKERS; i++)
      workers.push(
        spawnWorker(buildDir, [
          '--redis',
          url,
          '--queue',
          queueName,
          '--concurrency',
          String(CONCURRENCY),
          '--pool',
          String(POOL),
          '--plain',
          `127.0.0.1:${sink.port}`,
        ]),
      );
    for (;;) {
      const c = await queue.getJobCounts('completed', 'failed');
      if ((c.completed ?? 0) + (c.failed ?? 0) >= MESSAGES) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    monitor?.kill();
    if (monitor) await new Promise((r) => monitor.once('exit', r));
    // `1733456789.123456 [0 127.0.0.1:5555] "evalsha" "<sha>" "3" "<record>" "<unknown>" "<claims>" "token" "messageId" …`
    for (const line of readFileSync(file, 'latin1').split('\n')) {
      if (!/^\d+\.\d+ \[\d+ [^\]]*\] "eval/i.test(line)) continue;
      const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
      if (args.length === 11 && args[2] === '3' && args[5]!.endsWith(':smtpwire:claims'))
        claims.set(args[7]!, Number(line.slice(0, line.indexOf(' '))) * 1000);
    }
    // Jobs in the order their dots arrived, warm-up left out.
    const arrived = [...sink.dots].sort((a, b) => a[1] - b[1]).slice(WARMUP);
    const windows: number[] = [];
    for (const [id, dot] of arrived) {
      const claim = claims.get(id);
      if (claim !== undefined) windows.push(dot - claim);
    }
    return { windows, rate: MESSAGES / seconds };
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    monitor?.kill();
    closeSync(fd);
    rmSync(file, { force: true });
    await outbox.close();
    await queue.close();
    queueClient.disconnect();
    await sink.close();
  }
}

const quantile = (sorted: number[], q: number): string =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(2) ?? '-';

const arg = process.argv[2];
const built = await buildsFrom(arg);
const builds = built.list;
const redis = await startRedis({ appendfsync: 'always' });
const results = new Map<string, Round[]>(builds.map(([name]) => [name, []]));
let q = 0;
try {
  for (let i = 0; i < ROUNDS; i++)
    for (const [name, dir] of roundOrder(builds, i)) {
      const load = loadavg()[0]!.toFixed(2);
      const r = await round(dir, redis.port, redis.url, `window${++q}`);
      results.get(name)!.push(r);
      const sorted = [...r.windows].sort((a, b) => a - b);
      const mean = r.windows.reduce((a, w) => a + w, 0) / Math.max(1, r.windows.length);
      process.stderr.write(
        `  ${name} round ${i + 1}: ${r.windows.length} jobs, window mean ${mean.toFixed(2)} ms, median ${quantile(sorted, 0.5)}, p99 ${quantile(sorted, 0.99)}, ${r.rate.toFixed(0)} msg/s, load ${load}\n`,
      );
    }
  const rows = [
    `Claim → dot window: ${MESSAGES} messages per round (first ${WARMUP} left out), ${WORKERS} workers × concurrency ${CONCURRENCY}, pool ${POOL}, Redis appendfsync always + MONITOR`,
    '| build | rounds | jobs | window ms: mean (95% CI over rounds) | median | p90 | p99 | max | msg/s (median) | expected false UNKNOWN per kill |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, rs] of results) {
    const all = rs.flatMap((r) => r.windows).sort((a, b) => a - b);
    const means = rs.map((r) => r.windows.reduce((a, w) => a + w, 0) / Math.max(1, r.windows.length));
    const mean = all.reduce((a, w) => a + w, 0) / Math.max(1, all.length);
    const sd = Math.sqrt(means.reduce((a, m) => a + (m - mean) ** 2, 0) / Math.max(1, means.length - 1));
    const t = [12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365][means.length - 2] ?? 2.3;
    const half = means.length > 1 ? (t * sd) / Math.sqrt(means.length) : Number.NaN;
    const rate = rs.map((r) => r.rate).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
    // A killed worker's jobs inside the window: its claim rate (rate / WORKERS per second) × the mean window.
    const perKill = (rate / WORKERS) * (mean / 1000);
    rows.push(
      `| ${name} | ${rs.length} | ${all.length} | ${mean.toFixed(2)} (${(mean - half).toFixed(2)}–${(mean + half).toFixed(2)}) | ` +
        `${quantile(all, 0.5)} | ${quantile(all, 0.9)} | ${quantile(all, 0.99)} | ${all.at(-1)?.toFixed(1)} | ${rate.toFixed(0)} | ${perKill.toFixed(2)} |`,
    );
  }
  process.stdout.write(`${rows.join('\n')}\n(load average at the end: ${loadavg().map((l) => l.toFixed(2))})\n`);
} finally {
  await redis.stop();
  await built.remove();
}
