/**
 * The `--report` page rendered by a real browser (Debian chromium, headless): the DOM Chromium built
 * has the SVG elements the report should draw, and the screenshot shows them in their colours.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { orderedPhases } from '../../src/cli/bench/command.js';
import { LatencyHistogram } from '../../src/cli/bench/histogram.js';
import type { LoadPart } from '../../src/cli/bench/load.js';
import { renderHtmlReport } from '../../src/cli/bench/report-html.js';
import { mergeParts } from '../../src/cli/bench/run.js';
import { TimeSeries } from '../../src/cli/bench/series.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { chromiumAvailability, headlessChromium } from '../helpers/chromium.js';
import { countColour, decodePng } from '../helpers/png.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'smtpwire-report-'));
  dirs.push(d);
  return d;
};

/** Headless Chromium with a throw-away profile. */
const chromium = (args: string[]): Promise<string> => headlessChromium(args, tempDir());

/** One thread's part: 6 s at 500/s with a 1 s stall from 3 s, one in 100 failing, six phases. */
function syntheticPart(startedAt: number): LoadPart {
  const latency = new LatencyHistogram();
  const series = new TimeSeries();
  let ok = 0;
  for (let i = 0; i < 3000; i++) {
    const at = i * 2;
    const ms = at >= 3000 && at < 4000 ? 4000 - at : 1 + (i % 50) / 10;
    const delivered = i % 100 !== 0;
    latency.record(ms);
    series.record(at, ms, delivered);
    if (delivered) ok++;
  }
  const phases: LoadPart['phases'] = {};
  for (const [name, ms] of [
    ['final', 3],
    ['connect', 0.4],
    ['greeting', 1.2],
    ['ehlo', 0.8],
    ['mail', 0.3],
    ['data', 0.5],
  ] as const) {
    const h = new LatencyHistogram();
    for (let i = 0; i < 20; i++) h.record(ms * (1 + i / 10));
    phases[name] = h.snapshot();
  }
  return {
    sent: 3000,
    ok,
    failed: 3000 - ok,
    warmup: 0,
    errors: { '451 4.3.0': 20, '550 5.1.1': 7, ERR_SMTP_TIMEOUT: 3 },
    messageBytes: 1017,
    startedAt,
    endedAt: startedAt + 6000,
    cpuAtStart: null,
    cpuAtEnd: null,
    origin: startedAt,
    latency: latency.snapshot(),
    phases,
    series: series.part(),
  };
}

const availability = chromiumAvailability();
describe('bench --report in headless Chromium', () => {
  if (!availability.available) {
    reportUnavailable(availability);
    return;
  }

  const report = mergeParts([syntheticPart(1_000_000), syntheticPart(1_000_000)], {
    workers: 2,
    rate: null,
    cpuSeconds: 1.5,
    peakRssMiB: 120,
  });
  const html = renderHtmlReport(
    report,
    { title: 'smtpwire bench → test <&>', date: '2026-11-30T00:00:00Z', node: 'v20', cpus: 2, cpuModel: 'test' },
    orderedPhases(report.phases),
  );
  const file = join(tempDir(), 'report.html');
  writeFileSync(file, html);

  it('the merged report is what the parts say', () => {
    expect(report.messages).toBe(6000);
    expect(report.series.length).toBe(60);
    expect(report.errors.map((e) => [e.key, e.count])).toEqual([
      ['451 4.3.0', 40],
      ['550 5.1.1', 14],
      ['ERR_SMTP_TIMEOUT', 6],
    ]);
    expect(html).not.toMatch(/https?:|<script|<link|src=/i);
  });

  it('Chromium builds the SVG: one bar per interval, five percentile lines, two bars per phase, a bar per error', async () => {
    const dom = await chromium(['--dump-dom', pathToFileURL(file).href]);
    const count = (re: RegExp): number => dom.match(re)?.length ?? 0;
    expect(count(/<svg /g)).toBe(4);
    expect(count(/<rect class="bar-ok"/g)).toBe(report.series.length);
    expect(count(/<rect class="bar-failed"/g)).toBe(report.series.length);
    expect(count(/<path class="line /g)).toBe(5);
    expect(count(/<circle class="dot p99"/g)).toBe(report.series.length);
    expect(count(/<rect class="phase-bar /g)).toBe(2 * 6);
    expect(count(/<rect class="error-bar"/g)).toBe(3);
    // The title was escaped, not parsed as markup.
    expect(dom).toContain('smtpwire bench → test &lt;&amp;&gt;');
    // Phases in session order.
    expect([...dom.matchAll(/class="label">([a-z]+)</g)].map((m) => m[1])).toEqual([
      'connect',
      'greeting',
      'ehlo',
      'mail',
      'data',
      'final',
    ]);
  }, 90_000);

  it('the screenshot shows the charts in their colours', async () => {
    // BENCH_REPORT_PNG=/path keeps the screenshot, to look at it.
    const png = process.env.BENCH_REPORT_PNG ?? join(tempDir(), 'report.png');
    await chromium([`--screenshot=${png}`, '--window-size=1000,2200', pathToFileURL(file).href]);
    const image = decodePng(readFileSync(png));
    expect([image.width, image.height]).toEqual([1000, 2200]);
    // Delivered bars (green), p99 line and phase bars (orange), errors and p99.9 (red), p50 (blue).
    expect(countColour(image, '#2ca02c')).toBeGreaterThan(5000);
    expect(countColour(image, '#ff7f0e')).toBeGreaterThan(1000);
    expect(countColour(image, '#d62728')).toBeGreaterThan(3000);
    expect(countColour(image, '#1f77b4')).toBeGreaterThan(1000);
  }, 90_000);
});
