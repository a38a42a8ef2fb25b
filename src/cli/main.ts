#!/usr/bin/env node
/**
 * The `smtpwire` command: every command of {@link COMMANDS} (probe, send, bench, sink, conform,
 * dkim-record, outbox-worker). Uses the public API only (through `./api.js`) and `node:util` parseArgs.
 * Exit codes: 0 ok, 1 warnings, 2 failure or usage error.
 * Dev: `npx tsx src/cli/main.ts bench --sink --messages 2000`.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { escapeTerminalText } from './api.js';
import { BENCH_USAGE, benchCommand } from './bench/command.js';
import { type CliIo, EXIT_FAILURE, UsageError } from './common.js';
import { CONFORM_USAGE, conformCommand } from './conform.js';
import { DKIM_RECORD_USAGE, dkimRecordCommand } from './dkim.js';
import { OUTBOX_WORKER_USAGE, outboxWorkerCommand } from './outbox-worker.js';
import { PROBE_USAGE, probeCommand } from './probe.js';
import { SEND_USAGE, sendCommand } from './send.js';
import { SINK_USAGE, sinkCommand } from './sink.js';

/** Every command, by name: the dispatcher and `--help` both read this table. */
export const COMMANDS: Record<string, { run: (argv: string[], io: CliIo) => Promise<number>; usage: string }> = {
  probe: { run: probeCommand, usage: PROBE_USAGE },
  send: { run: sendCommand, usage: SEND_USAGE },
  bench: { run: benchCommand, usage: BENCH_USAGE },
  sink: { run: sinkCommand, usage: SINK_USAGE },
  conform: { run: conformCommand, usage: CONFORM_USAGE },
  'dkim-record': { run: dkimRecordCommand, usage: DKIM_RECORD_USAGE },
  'outbox-worker': { run: outboxWorkerCommand, usage: OUTBOX_WORKER_USAGE },
};

/** `smtpwire --help`: every command's usage, from {@link COMMANDS}, so none can be left out. */
export const USAGE = `smtpwire: SMTP probe, conformance, send, DKIM records, outbox worker and load generator

${Object.values(COMMANDS)
  .map((c) => c.usage)
  .join('\n\n')}

smtpwire --version prints the version.
Passwords: --pass-env VAR reads the environment; without it a terminal prompts (no echo).
Exit codes: 0 ok, 1 warnings, 2 failure or usage error.
`;

/** The package's version, read from its package.json (two levels up from src/cli or dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout.write(`smtpwire ${packageVersion()}\n`);
    return 0;
  }
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    io.stdout.write(USAGE);
    return name === undefined ? EXIT_FAILURE : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`smtpwire: unknown command ${escapeTerminalText(JSON.stringify(name))}\n\n${USAGE}`);
    return EXIT_FAILURE;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    // parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION: a usage error too.
    const code = (err as { code?: string }).code ?? '';
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`smtpwire ${name}: ${escapeTerminalText((err as Error).message)}\n${command.usage}\n`);
      return EXIT_FAILURE;
    }
    // The message may quote a server reply: escaped like every server-derived string.
    const message = escapeTerminalText((err as Error)?.message ?? String(err));
    io.stderr.write(`smtpwire ${name}: ${message}${code ? ` (${escapeTerminalText(code)})` : ''}\n`);
    return EXIT_FAILURE;
  }
}

/** True when run as a program (also through an npm bin symlink), false when imported by tests. */
function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

const invoked = invokedDirectly();
if (invoked) {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `smtpwire: ${((err as Error)?.stack ?? String(err))
          .split('\n')
          .map((line) => escapeTerminalText(line))
          .join('\n')}\n`,
      );
      process.exitCode = EXIT_FAILURE;
    },
  );
}
