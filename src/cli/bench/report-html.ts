/**
 * `smtpwire bench --report FILE.html`: one self-contained page (inline SVG and CSS, no script, no
 * external URL) with the run's summary, throughput over time, latency percentiles over time, latency
 * by phase and errors by code. Pure: a report in, a string out.
 */
import type { LatencySummary } from './histogram.js';
import type { BenchReport } from './run.js';

/** Facts about the run that are not in the report. */
export interface ReportMeta {
  title: string;
  date: string;
  node: string;
  cpus: number;
  cpuModel: string | null;
}

const PERCENTILE_LINES = [
  ['p50', '#1f77b4'],
  ['p90', '#2ca02c'],
  ['p99', '#ff7f0e'],
  ['p999', '#d62728'],
  ['max', '#7f7f7f'],
] as const;
const LABEL: Record<string, string> = { p50: 'p50', p90: 'p90', p99: 'p99', p999: 'p99.9', max: 'max' };
const OK_COLOUR = '#2ca02c';
const FAIL_COLOUR = '#d62728';
const W = 900;
const H = 260;
const M = { left: 64, right: 16, top: 16, bottom: 36 };

/** Escapes text for HTML and SVG content and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const fmt = (v: number): string =>
  v >= 100
    ? v.toFixed(0)
    : v >= 10
      ? v.toFixed(1)
      : v >= 1
        ? v.toFixed(2)
        : v >= 0.01
          ? v.toFixed(3)
          : v.toPrecision(2);
const msText = (v: number): string => (v >= 1000 ? `${fmt(v / 1000)} s` : `${fmt(v)} ms`);

/** A log10 scale over [lo, hi] (ms), with decade ticks. */
function logScale(values: number[], size: number): { at: (v: number) => number; ticks: number[] } {
  const positive = values.filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive, lo * 10)));
  const span = Math.log10(hi) - Math.log10(lo);
  const at = (v: number): number => (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span;
  const ticks: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  return { at: (v) => at(v) * size, ticks };
}

/** A linear scale from 0 to a round maximum, with about 5 ticks. */
function linearScale(max: number, size: number): { at: (v: number) => number; ticks: number[] } {
  const top = max > 0 ? max : 1;
  const step = 10 ** Math.floor(Math.log10(top / 5));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => top / s <= 6) ?? step * 10;
  const hi = Math.ceil(top / nice) * nice;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + nice / 2; t += nice) ticks.push(t);
  return { at: (v) => (v / hi) * size, ticks };
}

function frame(inner: string, label: string, yTicks: string, xTicks: string): string {
  return `<svg class="chart" role="img" aria-label="${escapeHtml(label)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="#fff" stroke="#ccc"/>
${yTicks}${xTicks}${inner}</svg>`;
}

function yAxis(ticks: number[], at: (v: number) => number, text: (v: number) => string): string {
  const plotH = H - M.top - M.bottom;
  return ticks
    .map((t) => {
      const y = (M.top + plotH - at(t)).toFixed(1);
      return `<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${escapeHtml(text(t))}</text>`;
    })
    .join('');
}

function xAxis(seconds: number[], x: (t: number) => number): string {
  if (seconds.length === 0) return '';
  const last = seconds[seconds.length - 1]!;
  const step = linearScale(last, 1).ticks[1] ?? 1;
  const out: string[] = [];
  for (let t = 0; t <= last + 1e-9; t += step)
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" class="tick">${Number(t.toFixed(2))} s</text>`,
    );
  return out.join('');
}

/** Completions per interval, delivered and failed stacked. */
function throughputChart(r: BenchReport): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const n = Math.max(1, Math.round((r.series.at(-1)?.t ?? 0) / (r.intervalMs / 1000)) + 1);
  const slot = plotW / n;
  const y = linearScale(Math.max(0, ...r.series.map((p) => p.rate)), plotH);
  const bars = r.series
    .map((p) => {
      const x = M.left + (p.t / (r.intervalMs / 1000)) * slot + slot * 0.1;
      const w = (slot * 0.8).toFixed(1);
      // Per second over the interval's true width (the last one may be partial).
      const perCompletion = p.ok + p.failed > 0 ? p.rate / (p.ok + p.failed) : 0;
      const hOk = y.at(p.ok * perCompletion);
      const hFail = y.at(p.failed * perCompletion);
      const base = M.top + plotH;
      const title = `<title>${fmt(p.t)} s: ${p.ok} delivered, ${p.failed} failed</title>`;
      return `<rect class="bar-ok" x="${x.toFixed(1)}" y="${(base - hOk).toFixed(1)}" width="${w}" height="${hOk.toFixed(1)}" fill="${OK_COLOUR}">${title}</rect><rect class="bar-failed" x="${x.toFixed(1)}" y="${(base - hOk - hFail).toFixed(1)}" width="${w}" height="${hFail.toFixed(1)}" fill="${FAIL_COLOUR}">${title}</rect>`;
    })
    .join('');
  const xs = r.series.map((p) => p.t);
  return frame(
    bars,
    'throughput over time',
    yAxis(y.ticks, y.at, (v) => `${fmt(v)}/s`),
    xAxis(xs, (t) => M.left + (t / (r.intervalMs / 1000)) * slot + slot / 2),
  );
}

/** p50 … max of each interval, on a log scale so a stall and the normal latency both show. */
function latencyChart(r: BenchReport): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const n = Math.max(1, Math.round((r.series.at(-1)?.t ?? 0) / (r.intervalMs / 1000)) + 1);
  const slot = plotW / n;
  const all = r.series.flatMap((p) => PERCENTILE_LINES.map(([k]) => p.latency[k]));
  const y = logScale(all, plotH);
  const x = (t: number): number => M.left + (t / (r.intervalMs / 1000)) * slot + slot / 2;
  const lines = PERCENTILE_LINES.map(([key, colour]) => {
    // One path per percentile, lifted over intervals without completions (a stall is a gap, not a slope).
    const step = r.intervalMs / 1000;
    const d = r.series
      .map((p, i) => {
        const gap = i === 0 || p.t - r.series[i - 1]!.t > step * 1.5;
        return `${gap ? 'M' : 'L'}${x(p.t).toFixed(1)},${(M.top + plotH - y.at(p.latency[key])).toFixed(1)}`;
      })
      .join(' ');
    const dots = r.series
      .map(
        (p) =>
          `<circle class="dot ${key}" cx="${x(p.t).toFixed(1)}" cy="${(M.top + plotH - y.at(p.latency[key])).toFixed(1)}" r="2.5" fill="${colour}"><title>${fmt(p.t)} s ${LABEL[key]}: ${msText(p.latency[key])}</title></circle>`,
      )
      .join('');
    return `<path class="line ${key}" fill="none" stroke="${colour}" stroke-width="2" d="${d}"/>${dots}`;
  }).join('');
  return frame(
    lines,
    'latency percentiles over time',
    yAxis(y.ticks, y.at, msText),
    xAxis(
      r.series.map((p) => p.t),
      x,
    ),
  );
}

function legend(): string {
  return `<p class="legend">${PERCENTILE_LINES.map(
    ([k, c]) => `<span><i style="background:${c}"></i>${LABEL[k]}</span>`,
  ).join('')}</p>`;
}

/** Horizontal bars: one row per phase with p50 and p99 (log scale). */
function phaseChart(r: BenchReport, order: string[]): string {
  const rowH = 26;
  const height = M.top + order.length * rowH + M.bottom;
  const left = 110;
  // Room on the right for the last tick's label and the figures after the longest bar.
  const plotW = W - left - M.right - 190;
  const values = order.flatMap((name) => [r.phases[name]!.p50, r.phases[name]!.p99]);
  const x = logScale(values, plotW);
  const rows = order
    .map((name, i) => {
      const s = r.phases[name]!;
      const y = M.top + i * rowH;
      const bar = (v: number, colour: string, dy: number, cls: string): string =>
        `<rect class="phase-bar ${cls}" x="${left}" y="${y + dy}" width="${Math.max(1, x.at(v)).toFixed(1)}" height="9" fill="${colour}"><title>${escapeHtml(name)} ${cls}: ${msText(v)} (${s.count}×)</title></rect>`;
      return `<text x="${left - 8}" y="${y + 11}" text-anchor="end" dominant-baseline="middle" class="label">${escapeHtml(name)}</text>${bar(s.p50, '#1f77b4', 2, 'p50')}${bar(s.p99, '#ff7f0e', 12, 'p99')}<text x="${(left + x.at(s.p99) + 6).toFixed(1)}" y="${y + 11}" dominant-baseline="middle" class="tick">p50 ${msText(s.p50)} · p99 ${msText(s.p99)}</text>`;
    })
    .join('');
  const ticks = x.ticks
    .map(
      (t) =>
        `<line x1="${(left + x.at(t)).toFixed(1)}" x2="${(left + x.at(t)).toFixed(1)}" y1="${M.top}" y2="${height - M.bottom}" stroke="#eee"/><text x="${(left + x.at(t)).toFixed(1)}" y="${height - M.bottom + 16}" text-anchor="middle" class="tick">${msText(t)}</text>`,
    )
    .join('');
  return `<svg class="chart" role="img" aria-label="latency by phase" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">${ticks}${rows}</svg>`;
}

function errorChart(r: BenchReport): string {
  const rowH = 24;
  const height = M.top + r.errors.length * rowH + 8;
  const left = 220;
  const plotW = W - left - M.right - 80;
  const max = Math.max(...r.errors.map((e) => e.count));
  const rows = r.errors
    .map((e, i) => {
      const y = M.top + i * rowH;
      const w = Math.max(1, (e.count / max) * plotW);
      return `<text x="${left - 8}" y="${y + 9}" text-anchor="end" dominant-baseline="middle" class="label">${escapeHtml(e.key)}</text><rect class="error-bar" x="${left}" y="${y}" width="${w.toFixed(1)}" height="18" fill="${FAIL_COLOUR}"><title>${escapeHtml(e.key)}: ${e.count}</title></rect><text x="${(left + w + 6).toFixed(1)}" y="${y + 9}" dominant-baseline="middle" class="tick">${e.count}</text>`;
    })
    .join('');
  return `<svg class="chart" role="img" aria-label="errors by code" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">${rows}</svg>`;
}

function summaryRow(name: string, s: LatencySummary): string {
  const cells = [s.count, msText(s.min), msText(s.p50), msText(s.p90), msText(s.p99), msText(s.p999), msText(s.max)];
  return `<tr><th>${escapeHtml(name)}</th>${cells.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`;
}

/** The page. Phase names are ordered by `order` (session order). */
export function renderHtmlReport(r: BenchReport, meta: ReportMeta, order = Object.keys(r.phases)): string {
  const facts: [string, string][] = [
    ['mode', r.mode === 'open-loop' ? `open loop (latency from each send's intended start)` : 'closed loop'],
    [
      'messages',
      `${r.messages} (${r.ok} delivered, ${r.failed} failed)${r.warmup ? `, ${r.warmup} warm-up not counted` : ''}`,
    ],
    ['duration', `${r.seconds.toFixed(2)} s`],
    [
      'throughput',
      r.messagesPerSecond === null
        ? 'none: nothing was delivered'
        : `${r.messagesPerSecond.toFixed(0)} msg/s delivered, ${r.megabytesPerSecond!.toFixed(2)} MB/s`,
    ],
  ];
  if (r.rate.requested !== null)
    facts.push(['rate', `requested ${r.rate.requested} msg/s, achieved ${r.rate.achieved?.toFixed(0) ?? '-'} msg/s`]);
  facts.push(['workers', r.workers === 0 ? 'main thread' : String(r.workers)]);
  if (r.cpuSecondsPer1000 !== null)
    facts.push(['client CPU', `${r.cpuSecondsPer1000.toFixed(3)} s per 1,000 messages`]);
  facts.push(['peak RSS', `${r.peakRssMiB.toFixed(1)} MiB`]);
  facts.push(['machine', `node ${meta.node}, ${meta.cpus} × ${meta.cpuModel ?? 'cpu'}`]);
  const phaseOrder = order.filter((name) => r.phases[name] !== undefined);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(meta.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:940px}
h1{font-size:18px}h2{font-size:15px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child{text-align:left}.facts th{text-align:left}.facts td{text-align:left}
.tick{font-size:11px;fill:#555}.label{font-size:12px;fill:#222}
.legend span{margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.empty{color:#777}
</style></head><body>
<h1>${escapeHtml(meta.title)}</h1>
<p class="empty">${escapeHtml(meta.date)}</p>
<table class="facts">${facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<h2>Latency</h2>
<table class="latency"><tr><th></th><th>count</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
${summaryRow('per message', r.latency)}${phaseOrder.map((name) => summaryRow(name, r.phases[name]!)).join('')}</table>
<h2>Throughput over time (per ${r.intervalMs / 1000} s; delivered green, failed red)</h2>
${r.series.length ? throughputChart(r) : '<p class="empty">no measured sends</p>'}
<h2>Latency percentiles over time (log scale)</h2>
${r.series.length ? `${legend()}${latencyChart(r)}` : '<p class="empty">no measured sends</p>'}
<h2>Latency by phase (p50 blue, p99 orange; log scale)</h2>
${phaseOrder.length ? phaseChart(r, phaseOrder) : '<p class="empty">no phase timings</p>'}
<h2>Errors by code</h2>
${r.errors.length ? errorChart(r) : '<p class="empty">none</p>'}
</body></html>
`;
}
