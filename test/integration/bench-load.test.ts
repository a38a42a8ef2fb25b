import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { runBench, split } from '../../src/cli/bench/run.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A scripted server answering every 7th RCPT (counted across all sessions) with 451 4.3.0. */
async function flakyServer(): Promise<{ server: ScriptedSmtpServer; refused: () => number }> {
  let rcpts = 0;
  let refused = 0;
  const server = await startScriptedServer({
    record: false,
    onCommand: (_session, _line, event) => {
      if (event !== 'RCPT' || ++rcpts % 7 !== 0) return undefined;
      refused++;
      return { reply: '451 4.3.0 try later' };
    },
  });
  servers.push(server);
  return { server, refused: () => refused };
}

const base = { host: '127.0.0.1', encryption: 'none' as const, size: 1024, api: 'raw' as const };

describe('runBench', () => {
  it('two worker threads: the merged totals equal what the server received, warm-up left out', async () => {
    const { server, refused } = await flakyServer();
    const report = await runBench({
      ...base,
      port: server.port,
      workers: 2,
      connections: 4,
      messages: 301,
      warmupMessages: 41,
    });
    expect(report.workers).toBe(2);
    expect(report.messages).toBe(301);
    expect(report.warmup).toBe(41);
    expect(report.ok + report.failed).toBe(301);
    // Every send reached the server; the refused ones are exactly the 451s it sent (warm-up's included).
    const failedInWarmup = refused() - report.failed;
    expect(failedInWarmup).toBeGreaterThanOrEqual(0);
    expect(server.messageCount).toBe(report.ok + 41 - failedInWarmup);
    expect(report.errors).toEqual([
      { key: '451 4.3.0', replyCode: 451, enhancedCode: '4.3.0', errorCode: null, count: report.failed },
    ]);
    expect(report.failed).toBeGreaterThan(30);
    // One histogram sample per measured send, merged across the threads, and the series adds up too.
    expect(report.latency.count).toBe(301);
    expect(report.histogram.count).toBe(301);
    expect(report.histogram.buckets.reduce((a, b) => a + b[2], 0)).toBe(301);
    expect(report.series.reduce((a, p) => a + p.ok, 0)).toBe(report.ok);
    expect(report.series.reduce((a, p) => a + p.failed, 0)).toBe(report.failed);
    // Connection set-up phases: one sample per connection (4, split 2 + 2).
    expect(report.phases.connect?.count).toBe(4);
    expect(report.phases.greeting?.count).toBe(4);
    expect(report.messagesPerSecond).toBeGreaterThan(0);
    expect(report.rate.requested).toBeNull();
    expect(report.mode).toBe('closed-loop');
  });

  it('open loop shows a 1 s server stall in p99; closed loop hides it', async () => {
    // The server stops answering final dots for 1 s, starting 1.5 s after `stallFrom` is set.
    let stallFrom = Infinity;
    const server = await startScriptedServer({
      record: false,
      onCommand: (_s, _l, event) => {
        if (event !== 'DATA_END') return undefined;
        const now = Date.now();
        const start = stallFrom + 1500;
        return now >= start && now < start + 1000 ? { delay: start + 1000 - now } : undefined;
      },
    });
    servers.push(server);
    const run = (rate?: number) => {
      stallFrom = Date.now();
      return runBench({
        ...base,
        port: server.port,
        workers: 0,
        connections: 1,
        window: 4,
        messages: Infinity,
        durationMs: 4000,
        ...(rate === undefined ? {} : { rate }),
      });
    };
    const open = await run(250);
    const closed = await run();
    // Open loop: the ~250 sends due during the stall (a quarter of the run) all waited for it.
    expect(open.mode).toBe('open-loop');
    expect(open.rate.requested).toBe(250);
    expect(open.failed).toBe(0);
    expect(open.latency.p99).toBeGreaterThanOrEqual(500);
    // Every send of the 4 s schedule was made, whatever the machine's load did to their latency.
    expect(open.messages).toBeGreaterThanOrEqual(999);
    expect(open.messages).toBeLessThanOrEqual(1001);
    // Closed loop: the stall stopped the offered load, so only the few sends in flight saw it.
    expect(closed.failed).toBe(0);
    expect(closed.latency.max).toBeGreaterThanOrEqual(900);
    expect(closed.latency.p99).toBeLessThan(500);
    // The stall is in the open loop's time series: some interval's max is about a second.
    expect(Math.max(...open.series.map((p) => p.latency.max))).toBeGreaterThanOrEqual(900);
  }, 30_000);

  it('per-phase latency: STARTTLS and AUTH once per connection, beside connect, greeting and EHLO', async () => {
    const server = await startScriptedServer({ record: false, tls: true, users: { alice: 'secret' } });
    servers.push(server);
    const report = await runBench({
      ...base,
      port: server.port,
      encryption: 'tls',
      tls: { ca: server.ca },
      username: 'alice',
      password: 'secret',
      workers: 0,
      connections: 3,
      messages: 60,
    });
    expect(report.ok).toBe(60);
    for (const phase of ['connect', 'greeting', 'ehlo', 'starttls', 'auth']) {
      expect(report.phases[phase]?.count, phase).toBe(3);
      expect(report.phases[phase]!.max, phase).toBeGreaterThan(0);
    }
    // Per-message phases come from the engine's MailOutcome.timings when it has them: one per send then.
    for (const phase of ['mail', 'data', 'final']) {
      if (report.phases[phase] !== undefined) expect(report.phases[phase]!.count, phase).toBe(60);
    }
  });

  it('split: shares add up to the whole and differ by at most one', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.integer({ min: 1, max: 64 }), (total, n) => {
        const shares = split(total, n);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }),
    );
    expect(split(Infinity, 3)).toEqual([Infinity, Infinity, Infinity]);
  });

  it('a closed port: every send fails, no delivery rate, errors by code', async () => {
    const server = await startScriptedServer();
    const port = server.port;
    await server.close();
    const report = await runBench({ ...base, port, workers: 0, connections: 2, messages: 20 });
    expect(report.ok).toBe(0);
    expect(report.failed).toBe(20);
    expect(report.messagesPerSecond).toBeNull();
    expect(report.megabytesPerSecond).toBeNull();
    expect(report.errors.map((e) => e.errorCode)).toEqual(['ERR_SMTP_CONNECTION']);
  });
});
