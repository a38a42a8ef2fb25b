/**
 * The common launcher of aiosmtpd.ts and smtp-server-process.ts: a child process
 * that speaks the JSON stdin/stdout protocol of {@link startJsonChild} and delivers
 * into a spool directory under a private work directory.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CERTS, makeWorkDir, readTestTls, startJsonChild, stopLogged } from './process.js';
import { clearSpool, readSpool, waitForSpool } from './spool.js';
import {
  DEFAULT_SIZE_LIMIT,
  DEFAULT_USER,
  REFUSED_RECIPIENT,
  type RealServer,
  type ServerFeatures,
  type ServerName,
  ServerStartError,
  type StartOptions,
} from './types.js';

/** The per-server parts of a child-process server. */
export interface ChildServerSpec {
  name: ServerName;
  command: string;
  args: readonly string[];
  /** Host name announced in the greeting and EHLO reply (never looked up in DNS). */
  hostname: string;
  features: Omit<ServerFeatures, 'sizeLimit'>;
  notes: readonly string[];
}

/**
 * Starts `spec` and wraps it as a {@link RealServer}.
 * @throws ServerStartError with the child's output when it does not report ready.
 */
export async function startChildServer(spec: ChildServerSpec, opts: StartOptions): Promise<RealServer> {
  const users = [...(opts.users ?? [DEFAULT_USER])];
  const sizeLimit = opts.sizeLimit ?? DEFAULT_SIZE_LIMIT;
  const root = await makeWorkDir(spec.name);
  const spool = join(root, 'spool');
  try {
    await mkdir(spool);
    const tls = await readTestTls();
    const { proc, port, tlsPort } = await startJsonChild(
      spec.command,
      spec.args,
      {
        spool,
        cert: CERTS.cert,
        key: CERTS.key,
        users,
        sizeLimit,
        refusedRecipient: REFUSED_RECIPIENT,
        hostname: spec.hostname,
      },
      opts.startTimeoutMs ?? 20_000,
    );
    const logTail = async (lines = 40): Promise<string> => proc.log.tail(lines);
    let stopped: Promise<void> | undefined;
    return {
      name: spec.name,
      host: '127.0.0.1',
      port,
      tlsPort,
      tls,
      users,
      features: { ...spec.features, sizeLimit },
      addedHeaders: [],
      notes: spec.notes,
      workDir: root,
      readMessages: () => readSpool(spool, spec.name),
      waitForMessages: (count, timeoutMs = 10_000) => waitForSpool(spool, spec.name, count, timeoutMs, logTail),
      clearMessages: () => clearSpool(spool),
      logTail,
      stop() {
        stopped ??= (async () => {
          await stopLogged(proc);
          await rm(root, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    const tail = (err as { logTail?: string }).logTail ?? '';
    throw new ServerStartError(spec.name, (err as Error).message, tail, { cause: err });
  }
}
