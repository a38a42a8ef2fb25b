/**
 * In-process A/B of compiled builds (the method of /work/shared/perf-notes.md): every variant's `dist/` is
 * loaded into one process, blocks of BLOCK messages alternate between the variants, and each block is
 * charged its `process.cpuUsage()`; medians over ROUNDS, and the ratio to the first variant is taken block
 * by block, so drift on a shared machine hits every variant alike.
 *
 *   npx tsx bench/ab.ts <distA>,<distB> [raw|message] [connections]
 *
 * Each dist is a compiled `src/` (`tsc -p tsconfig.build.json --outDir <dir>`); the sink is Postfix
 * `smtp-sink` on a free loopback port. Environment: BLOCK (2000), ROUNDS (6), WARMUP (3000), SIZE (1024: above
 * 2 KB the message carries a binary attachment of about that size, as the bench's 100 KB message does).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from './sink.js';

type Api = typeof import('../src/index.js');
const dists = (process.argv[2] ?? '').split(',').filter(Boolean);
const api = process.argv[3] === 'message' ? 'message' : 'raw';
const connections = Number(process.argv[4] ?? 8);
const BLOCK = Number(process.env.BLOCK ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const WARMUP = Number(process.env.WARMUP ?? 3000);
const WINDOW = 16;
if (dists.length === 0) throw new Error('usage: tsx bench/ab.ts <distA>,<distB> [raw|message] [connections]');

const port = await freePort();
const sink = spawn('/usr/sbin/smtp-sink', ['-c', '-u', process.env.USER ?? 'root', `127.0.0.1:${port}`, '1000'], {
  stdio: 'ignore',
});
await new Promise((r) => setTimeout(r, 300));
try {
  const mods: Api[] = [];
  for (const d of dists) mods.push((await import(pathToFileURL(resolve(d, 'index.js')).href)) as Api);
  const FROM = 'bench@smtpwire.example';
  const TO = 'sink@smtpwire.example';
  const handlers = mods.map(
    (m) =>
      new m.SmtpProtocolHandler({
        hostname: '127.0.0.1',
        port,
        encryption: 'none',
        poolSize: connections,
        fromAddress: FROM,
        retryPolicy: { maxRetries: 0 },
        pool: { maxMessagesPerConnection: Number.MAX_SAFE_INTEGER },
      }),
  );
  const size = Number(process.env.SIZE ?? 1024);
  const attachment = Buffer.alloc(Math.max(0, size - 1024), 7).map((_, i) => (i * 131 + 17) & 0xff);
  const content = {
    subject: 'bench',
    textBody: `${'x'.repeat(74)}\r\n`.repeat(12),
    ...(size > 2048 ? { attachments: [{ filename: 'a.bin', content: attachment }] } : {}),
  };
  const raw = await mods[0]!.buildMessage({ fromAddress: FROM, toAddresses: [TO], ...content }).toBuffer();
  const envelope = { from: FROM, to: [TO] };
  const block = async (h: (typeof handlers)[number], n: number) => {
    let started = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (started < n) {
        started++;
        const r =
          api === 'raw'
            ? await h.sendRaw(envelope, raw, { retry: false })
            : await h.sendMessage({ toAddresses: [TO], ...content, retry: false });
        if (r.status !== 'success') failed++;
      }
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: connections * WINDOW }, worker));
    const c = process.cpuUsage(c0);
    return { cpu: ((c.user + c.system) / 1e6 / n) * 1000, rate: n / ((performance.now() - t0) / 1000), failed };
  };
  for (const h of handlers) await block(h, WARMUP);
  const cpu: number[][] = dists.map(() => []);
  const rate: number[][] = dists.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...handlers.keys()].reverse() : [...handlers.keys()];
    for (const i of order) {
      const b = await block(handlers[i]!, BLOCK);
      cpu[i]!.push(b.cpu);
      rate[i]!.push(b.rate);
      if (b.failed) process.stderr.write(`${dists[i]}: ${b.failed} failed\n`);
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  for (const [i, d] of dists.entries()) {
    const ratio = median(cpu[i]!.map((c, k) => c / cpu[0]![k]!));
    process.stdout.write(
      `| ${d} | ${api} | ${connections} | ${median(rate[i]!).toFixed(0)} | ${median(cpu[i]!).toFixed(4)} | ${ratio.toFixed(3)} |\n`,
    );
  }
  for (const h of handlers) await h.close();
} finally {
  sink.kill();
}
