import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { runCli as cli } from '../helpers/cli.js';

const ROOT = join(import.meta.dirname, '../..');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smtpwire-cli-bench-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function scripted(options: Parameters<typeof startScriptedServer>[0] = {}): Promise<ScriptedSmtpServer> {
  const s = await startScriptedServer(options);
  servers.push(s);
  return s;
}

/** Every key of a JSON value, recursively. */
function keys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keys);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [k, ...keys(v)]);
}

describe('smtpwire bench (spawned)', () => {
  it('--json: counts, percentiles in order, errors by reply and enhanced code, camelCase, µs-rounded', async () => {
    const server = await scripted({ script: [{ on: 'RCPT', nth: 3, reply: '451 4.3.0 try later' }] });
    const run = await cli([
      'bench',
      `127.0.0.1:${server.port}`,
      '--messages',
      '60',
      '--connections',
      '2',
      '--warmup-messages',
      '0',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      messages: 60,
      mode: 'closed-loop',
      settings: { connections: 2, messages: 60, size: 1024 },
    });
    expect(report.ok + report.failed).toBe(60);
    expect(report.failed).toBeGreaterThan(0);
    expect(report.errors).toEqual([
      { key: '451 4.3.0', replyCode: 451, enhancedCode: '4.3.0', errorCode: null, count: report.failed },
    ]);
    const l = report.latency;
    expect([l.min, l.p50, l.p90, l.p99, l.p999, l.max]).toEqual(
      [l.min, l.p50, l.p90, l.p99, l.p999, l.max].sort((a, b) => a - b),
    );
    for (const v of Object.values(l) as number[]) expect(Math.round(v * 1000) / 1000).toBe(v);
    expect(report.histogram.buckets.reduce((a: number, b: number[]) => a + b[2]!, 0)).toBe(60);
    expect(keys(report).filter((k) => /_/.test(k))).toEqual([]);
    expect(report.messagesPerSecond).toBeGreaterThan(0);
    expect(report.cpuSecondsPer1000).toBeGreaterThan(0);
    expect(report.peakRssMiB).toBeGreaterThan(10);
    expect(server.messages.length).toBe(report.ok);
  });

  it('--sink: plain progress lines (not a TTY), the text report with percentiles and phases', async () => {
    const run = await cli(['bench', '--sink', '--messages', '200', '--connections', '2', '--warmup-messages', '0']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('embedded sink');
    expect(run.stdout).toMatch(/^sent 200\/200, /m);
    expect(run.stdout).not.toContain('\r');
    expect(run.stdout).toMatch(/200 \(200 delivered, 0 failed\)/);
    expect(run.stdout).toMatch(/throughput +\d+ msg\/s delivered/);
    expect(run.stdout).toMatch(/latency +p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms, p99\.9 [\d.]+ ms, max [\d.]+ ms/);
    expect(run.stdout).toMatch(/^ +connect +p50 [\d.]+ ms.*\(2×\)$/m);
    expect(run.stdout).toMatch(
      /note +too short for steady state: 200 measured \(< 20,000\), 0 warm-up \(< 3,000\); msg\/s and CPU include/,
    );
  });

  it("smtp-source's -s, -m and -l mean what they mean there; its other flags are refused with the spelling to use", async () => {
    const run = await cli(['bench', '--sink', '-s', '2', '-m50', '-l', '2048', '--warmup-messages', '10', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ messages: 50, warmup: 10, settings: { connections: 2, size: 2048 } });
    expect(report.note).toMatch(/^too short for steady state: 50 measured/);
    for (const [flag, hint] of [
      ['-r', '--rate R'],
      ['-c', '--connections C'],
      ['-d', '--duration S'],
      ['-w', '--workers W'],
    ] as const) {
      const refused = await cli(['bench', '--sink', flag, '5']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(hint);
    }
    const help = await cli(['bench', '--help']);
    for (const flag of help.stdout.match(/--[a-z-]+/g) ?? []) {
      if (flag === '--help') continue;
      expect([
        '--sink',
        '--messages',
        '--duration',
        '--connections',
        '--workers',
        '--rate',
        '--warmup',
        '--warmup-messages',
        '--size',
        '--pipelining',
        '--chunking',
        '--api',
        '--window',
        '--plain',
        '--starttls',
        '--tls',
        '--ssl',
        '--encryption',
        '--ca',
        '--insecure',
        '--user',
        '--pass-env',
        '--json',
        '--report',
      ]).toContain(flag);
    }
  });

  it('--workers 2 --rate --duration --warmup: open loop across threads, warm-up left out', async () => {
    const server = await scripted({ record: false });
    const run = await cli([
      'bench',
      `127.0.0.1:${server.port}`,
      '--workers',
      '2',
      '--connections',
      '2',
      '--rate',
      '200',
      '--duration',
      '1',
      '--warmup',
      '0.5',
      '--api',
      'raw',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ mode: 'open-loop', workers: 2, failed: 0, rate: { requested: 200 } });
    // 1 s at 200/s after a 0.5 s warm-up at the same rate: about 200 measured and 100 left out.
    expect(report.messages).toBeGreaterThanOrEqual(190);
    expect(report.messages).toBeLessThanOrEqual(202);
    expect(report.warmup).toBeGreaterThanOrEqual(90);
    // The schedule, not the replies, sets the pace: never above the requested rate (the machine may be slower).
    expect(report.rate.achieved).toBeGreaterThan(0);
    expect(report.rate.achieved).toBeLessThanOrEqual(210);
    expect(server.messageCount).toBe(report.ok + report.warmup);
  });

  it('a closed port: exit 2, failures reported, no throughput figure', async () => {
    const server = await startScriptedServer();
    const port = server.port;
    await server.close();
    const text = await cli([
      'bench',
      `127.0.0.1:${port}`,
      '--messages',
      '5',
      '--connections',
      '1',
      '--warmup-messages',
      '0',
    ]);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/5 \(0 delivered, 5 failed\)/);
    expect(text.stdout).toContain('throughput    none: nothing was delivered');
    expect(text.stdout).not.toMatch(/msg\/s delivered/);
    expect(text.stdout).toMatch(/errors +ERR_SMTP_CONNECTION × 5/);
    const json = JSON.parse(
      (await cli(['bench', `127.0.0.1:${port}`, '--messages', '5', '--warmup-messages', '0', '--json'])).stdout,
    );
    expect(json).toMatchObject({ ok: 0, failed: 5, messagesPerSecond: null, megabytesPerSecond: null });
  });

  it('refuses more workers than connections, and two kinds of warm-up', async () => {
    const a = await cli(['bench', '--sink', '--workers', '3', '--connections', '2']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--workers');
    const b = await cli(['bench', '--sink', '--warmup', '1', '--warmup-messages', '10']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--warmup');
  });

  it('--report writes a self-contained page', async () => {
    const file = join(dir, 'report.html');
    const run = await cli([
      'bench',
      '--sink',
      '--messages',
      '100',
      '--connections',
      '2',
      '--warmup-messages',
      '0',
      '--report',
      file,
    ]);
    expect(run.code).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/https?:|<script|<link|src=/i);
    expect(html).toContain('<svg');
  });
});

describe('smtpwire bench compiled (dist)', () => {
  // A build of src/ into the repo's .tmp (ESM needs the package's "type": "module" above it).
  const out = join(ROOT, '.tmp', `cli-bench-build-${process.pid}`);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('the worker threads run the compiled JavaScript', async () => {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out],
      {
        cwd: ROOT,
      },
    );
    expect(existsSync(join(out, 'cli/bench/worker.js'))).toBe(true);
    const run = await cli(
      [
        'bench',
        '--sink',
        '--workers',
        '2',
        '--connections',
        '2',
        '--messages',
        '300',
        '--warmup-messages',
        '0',
        '--json',
      ],
      {
        main: join(out, 'cli/main.js'),
      },
    );
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ workers: 2, messages: 300, ok: 300, failed: 0 });
  }, 60_000);
});
