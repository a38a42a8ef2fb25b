/**
 * Renders the README table of the client conformance matrix (server × case → pass / n/a / FAIL)
 * from a vitest JSON report of `matrix.test.ts`. Only what the run shows is written: a row is
 * `pass` when every case that proves it passed, `FAIL` when one failed, `n/a` with the reason
 * when the server does not offer it (and, where a case checked it, the fallback smtpwire took).
 *
 * ```sh
 * npx vitest run test/conformance/matrix.test.ts --reporter=json --outputFile=.tmp/matrix-run.json
 * npx tsx test/conformance/matrix-report.ts .tmp/matrix-run.json > .tmp/conformance-matrix.md
 * ```
 */
import { readFileSync } from 'node:fs';
import {
  EXPECTED_FEATURES,
  MATRIX_ROWS,
  type MatrixCase,
  type MatrixRow,
  matrixCases,
  notApplicable,
} from './matrix-cases.js';
import { SERVER_NAMES, type ServerName } from './servers/types.js';

/** The parts of vitest's JSON report read here. */
interface VitestJson {
  startTime: number;
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: {
    startTime: number;
    endTime: number;
    assertionResults: { title: string; status: string; failureMessages: string[] }[];
  }[];
}

/** Column headings: the server and the version the table was made with. */
const SERVER_LABEL: Record<ServerName, string> = {
  postfix: 'Postfix',
  aiosmtpd: 'aiosmtpd',
  'smtp-server': 'smtp-server',
};

type Status = 'passed' | 'failed' | 'skipped';

/** One cell of the table for `row` on `server`, from the statuses of its cases. */
export function cell(
  server: ServerName,
  row: MatrixRow,
  cases: readonly MatrixCase[],
  status: ReadonlyMap<string, Status>,
  skipReason?: string,
): string {
  const proving = cases.filter((c) => c.rows.includes(row));
  const ran = proving.filter((c) => status.has(c.name));
  const failed = ran.filter((c) => status.get(c.name) === 'failed');
  if (failed.length > 0) return `**FAIL** (${failed.length} of ${proving.length})`;
  const passed = ran.filter((c) => status.get(c.name) === 'passed');
  if (proving.length > 0 && passed.length === proving.length) return `pass (${passed.length})`;
  const fallback = cases.find((c) => c.naRows[row] !== undefined && status.get(c.name) === 'passed');
  if (fallback) return `n/a: ${fallback.naRows[row]}`;
  const na = notApplicable(row, EXPECTED_FEATURES[server]);
  if (na !== undefined && proving.length === 0) return `n/a: ${na}`;
  if (skipReason !== undefined) return `skipped: ${skipReason}`;
  return proving.length > 0 ? `not run (${proving.length - ran.length} of ${proving.length})` : 'no case';
}

/** The Markdown section for a run. */
export function renderMatrix(report: VitestJson, versions: Partial<Record<ServerName, string>> = {}): string {
  const status = new Map<string, Status>();
  const skipped = new Map<ServerName, string>();
  for (const file of report.testResults) {
    for (const t of file.assertionResults) {
      const s: Status = t.status === 'passed' ? 'passed' : t.status === 'failed' ? 'failed' : 'skipped';
      status.set(t.title, s);
      const unavailable = /^(.+) can run on this machine$/.exec(t.title);
      if (unavailable && s !== 'passed')
        skipped.set(unavailable[1] as ServerName, 'server unavailable (see the banner in the test output)');
    }
  }
  const cases = new Map(SERVER_NAMES.map((name) => [name, matrixCases(name)] as const));
  const head = SERVER_NAMES.map((name) => `${SERVER_LABEL[name]}${versions[name] ? ` ${versions[name]}` : ''}`);
  const lines = [`| Case | ${head.join(' | ')} |`, `|---|${SERVER_NAMES.map(() => '---').join('|')}|`];
  for (const { row, label } of MATRIX_ROWS) {
    const cells = SERVER_NAMES.map((name) => cell(name, row, cases.get(name)!, status, skipped.get(name)));
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  const ms =
    Math.max(...report.testResults.map((f) => f.endTime)) - Math.min(...report.testResults.map((f) => f.startTime));
  const when = new Date(report.startTime).toISOString().replace(/\.\d+Z$/, 'Z');
  return [
    ...lines,
    '',
    `From a run of \`test/conformance/matrix.test.ts\` on ${when}: ${report.numPassedTests} of ${report.numTotalTests} tests passed` +
      `${report.numFailedTests ? `, **${report.numFailedTests} failed**` : ''} in ${(ms / 1000).toFixed(1)} s (Node ${process.version}).`,
    '`pass (n)`: every one of the n cases that exercise the row passed; each case compares the delivered file with what was built',
    "and checks in the transcript (and the server's own record) that the channel, mechanism, pipelining and verb were the ones asked for.",
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error(
      'usage: tsx test/conformance/matrix-report.ts <vitest-json-report> [postfix=3.7.11 aiosmtpd=1.4.3 ...]',
    );
    process.exit(2);
  }
  const versions: Partial<Record<ServerName, string>> = {};
  for (const arg of process.argv.slice(3)) {
    const [name, version] = arg.split('=');
    if (name && version && (SERVER_NAMES as readonly string[]).includes(name)) versions[name as ServerName] = version;
  }
  process.stdout.write(`${renderMatrix(JSON.parse(readFileSync(file, 'utf8')) as VitestJson, versions)}\n`);
}
