/**
 * `smtpwire sink [--port P] [--host H]`: a local SMTP server that accepts and discards everything
 * (the scripted server of `smtpwire/testing`, correct by default). Used by `bench --sink`; handy on
 * its own. Prints `smtpwire sink listening on HOST port N` first (with `--json`, one JSON line per
 * event: `{"event":"listening","host","port"}` then, at the end, `{"event":"stopped","messages"}`),
 * then runs until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { startScriptedServer } from '../testing/index.js';
import { type CliIo, UsageError } from './common.js';
import { toJsonLine } from './json.js';

/** Forget recorded sessions and messages this often, so a long run keeps memory bounded. */
const FORGET_EVERY_MS = 1000;

/** `smtpwire sink --help`. */
export const SINK_USAGE =
  'usage: smtpwire sink [--host 127.0.0.1] [--port 2525] [--json]   (port 0: any free port; --json: JSON lines)';

/** Runs until a signal; resolves with exit code 0. */
export async function sinkCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '2525' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length) throw new UsageError('sink takes no positional argument');
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError('--port must be 0..65535');
  // No SIZE cap beyond 1 GiB: a sink for benchmarks, not a policy server.
  const server = await startScriptedServer({
    host: values.host,
    port,
    maxMessageSize: 1024 * 1024 * 1024,
    maxRecipients: 1000,
    record: false,
  });
  const forget = setInterval(() => server.reset(), FORGET_EVERY_MS);
  io.stdout.write(
    values.json
      ? toJsonLine({ event: 'listening', host: server.host, port: server.port })
      : `smtpwire sink listening on ${server.host} port ${server.port}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  clearInterval(forget);
  const messages = server.messageCount;
  await server.close();
  io.stdout.write(
    values.json ? toJsonLine({ event: 'stopped', messages }) : `smtpwire sink stopped after ${messages} messages\n`,
  );
  return 0;
}
