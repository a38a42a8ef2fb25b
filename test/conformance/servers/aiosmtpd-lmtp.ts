/**
 * aiosmtpd's LMTP server (aiosmtpd.lmtp.LMTP, Debian python3-aiosmtpd) as a second LMTP
 * implementation next to Dovecot: py/aiosmtpd_lmtp.py on a kernel-chosen 127.0.0.1 port. Its
 * mailbox rules (nobody / full / busy) are in that script's docstring.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  detachLogged,
  type LoggedChild,
  makeWorkDir,
  SERVERS_DIR,
  SYSTEM_PYTHON,
  spawnLogged,
  stopLogged,
} from './process.js';
import { ServerStartError } from './types.js';

export interface AiosmtpdLmtpServer {
  host: '127.0.0.1';
  port: number;
  /** Delivered files for a local part, oldest first. */
  delivered(localPart: string): Promise<Buffer[]>;
  stop(): Promise<void>;
}

/** @throws ServerStartError with the Python log when it does not report ready. */
export async function startAiosmtpdLmtp(): Promise<AiosmtpdLmtpServer> {
  const root = await makeWorkDir('aiosmtpd-lmtp');
  const spool = join(root, 'spool');
  await mkdir(spool);
  const config = { spool, hostname: 'lmtp.aiosmtpd.smtpwire.test' };
  const proc: LoggedChild = spawnLogged(
    SYSTEM_PYTHON,
    [join(SERVERS_DIR, 'py/aiosmtpd_lmtp.py')],
    `${JSON.stringify(config)}\n`,
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      proc.firstMessage,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('not ready within 15000 ms')), 15_000);
      }),
    ]);
    if (ready.ready !== true || typeof ready.port !== 'number') throw new Error(`unexpected ${JSON.stringify(ready)}`);
    detachLogged(proc);
    let stopped: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port: ready.port,
      async delivered(localPart) {
        const names = (await readdir(spool)).filter((n) => n.endsWith(`.${localPart}.eml`)).sort();
        return Promise.all(names.map((n) => readFile(join(spool, n))));
      },
      stop() {
        stopped ??= (async () => {
          await stopLogged(proc, 5_000);
          await rm(root, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    await stopLogged(proc, 2_000).catch(() => {});
    await rm(root, { recursive: true, force: true });
    throw new ServerStartError('aiosmtpd-lmtp', (err as Error).message, proc.log.tail(), { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
