/**
 * Exim 4.96 (Debian `exim4-daemon-light`) for the conform matrix only. Its package conflicts with
 * Postfix's (one MTA per system), so `.ci/install-servers.sh` extracts it, never installs it, into
 * {@link EXIM_ROOT}; this launcher runs that binary as a private daemon on a free 127.0.0.1 port with
 * its own config, spool and maildir under a temp dir (`-C`, so no system file is read), STARTTLS with
 * the test certificate and AUTH PLAIN/LOGIN for the harness's users.
 */
import { execFile } from 'node:child_process';
import { access, chmod, chown, constants, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CERTS,
  freePort,
  makeWorkDir,
  readTestTls,
  spawnLogged,
  stopLogged,
  tailFile,
  waitForGreeting,
} from './process.js';
import {
  DEFAULT_SIZE_LIMIT,
  DEFAULT_USER,
  type DeliveredMessage,
  type RealServer,
  ServerStartError,
  type StartOptions,
  TEST_DOMAIN,
} from './types.js';

/** Where `.ci/install-servers.sh` extracts the package (override with SMTPWIRE_EXIM_ROOT). */
export const EXIM_ROOT = process.env.SMTPWIRE_EXIM_ROOT ?? '/opt/smtpwire-exim';
const EXIM_BIN = join(EXIM_ROOT, 'usr/sbin/exim4');
const LIBS = join(EXIM_ROOT, 'usr/lib/x86_64-linux-gnu');

/** A running Exim: a RealServer in all but its name (it is not in the SMTP matrix). */
export type EximServer = Omit<RealServer, 'name' | 'readMessages' | 'waitForMessages'> & {
  readonly name: 'exim';
  readMessages(): Promise<Omit<DeliveredMessage, 'server'>[]>;
  waitForMessages(count: number, timeoutMs?: number): Promise<Omit<DeliveredMessage, 'server'>[]>;
};

/** Why Exim cannot run here, or undefined when it can. */
export async function eximProblem(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'Exim runs as root here (exim_user root in its private config); not root';
  try {
    await access(EXIM_BIN, constants.X_OK);
  } catch {
    return `${EXIM_BIN} missing (run .ci/install-servers.sh as root: it extracts exim4-daemon-light there)`;
  }
  try {
    await promisify(execFile)('id', ['-u', 'Debian-exim']);
  } catch {
    return 'user Debian-exim must exist (the binary looks it up at start; .ci/install-servers.sh adds it)';
  }
  return undefined;
}

function config(dir: string, port: number, sizeLimit: number): string {
  return `primary_hostname = exim.smtpwire.test
exim_path = ${EXIM_BIN}
keep_environment = LD_LIBRARY_PATH
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
exim_user = root
exim_group = root
never_users =
daemon_smtp_ports = ${port}
local_interfaces = 127.0.0.1
domainlist local_domains = ${TEST_DOMAIN}
message_size_limit = ${sizeLimit}
tls_advertise_hosts = *
tls_certificate = ${CERTS.cert}
tls_privatekey = ${CERTS.key}
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted
begin routers
local:
  driver = accept
  domains = +local_domains
  transport = to_maildir
begin transports
to_maildir:
  driver = appendfile
  directory = ${dir}/mail
  maildir_format = true
  envelope_to_add = true
  return_path_add = true
  user = Debian-exim
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if eq{$auth3}{\${lookup{$auth2}lsearch{${dir}/users}}}}
  server_set_id = $auth2
login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if eq{$auth2}{\${lookup{$auth1}lsearch{${dir}/users}}}}
  server_set_id = $auth1
`;
}

/** The header block's value of `name` (first occurrence), unfolded. */
function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return (m?.[1] ?? '').replace(/\r?\n[ \t]+/g, ' ').trim();
}

/**
 * Starts Exim. @throws ServerStartError with its log when it does not greet in time.
 */
export async function startExim(opts: StartOptions = {}): Promise<EximServer> {
  const users = opts.users ?? [DEFAULT_USER];
  const sizeLimit = opts.sizeLimit ?? DEFAULT_SIZE_LIMIT;
  const dir = await makeWorkDir('exim');
  for (const sub of ['spool', 'log', 'mail']) await mkdir(join(dir, sub), { recursive: true });
  // Exim never delivers as root (fixed_never_users): the maildir belongs to its compiled-in user.
  const { stdout } = await promisify(execFile)('id', ['-u', 'Debian-exim']);
  const uid = Number(stdout.trim());
  await chmod(dir, 0o755);
  await chown(join(dir, 'mail'), uid, 0);
  await writeFile(join(dir, 'users'), `${users.map((u) => `${u.username}: ${u.password}`).join('\n')}\n`);
  const port = await freePort();
  const conf = join(dir, 'exim.conf');
  await writeFile(conf, config(dir, port, sizeLimit));
  // -bdf: the daemon in the foreground, so stopping the child stops it; -odi: deliver at once. The
  // extracted libidn12 is found through LD_LIBRARY_PATH.
  const proc = spawnLogged('/usr/bin/env', [
    `LD_LIBRARY_PATH=${LIBS}`,
    EXIM_BIN,
    '-C',
    conf,
    '-bdf',
    '-odi',
    '-oX',
    String(port),
  ]);
  let alive = true;
  void proc.exited.then(() => {
    alive = false;
  });
  const logTail = async (lines = 40): Promise<string> =>
    [
      proc.log.tail(lines),
      await tailFile(join(dir, 'log/mainlog'), lines),
      await tailFile(join(dir, 'log/paniclog'), lines),
    ]
      .filter(Boolean)
      .join('\n');
  try {
    await waitForGreeting(port, opts.startTimeoutMs ?? 20_000, () => alive);
  } catch (err) {
    const tail = await logTail();
    await stopLogged(proc);
    await rm(dir, { recursive: true, force: true });
    throw new ServerStartError('exim' as never, (err as Error).message, tail, { cause: err });
  }
  const maildir = join(dir, 'mail/new');
  const readMessages = async (): Promise<Omit<DeliveredMessage, 'server'>[]> => {
    const names = (await readdir(maildir).catch(() => [] as string[])).sort();
    const out: Omit<DeliveredMessage, 'server'>[] = [];
    for (const id of names) {
      const file = join(maildir, id);
      const raw = await readFile(file);
      const text = raw.toString('latin1');
      out.push({
        id,
        raw,
        lineEnding: 'lf',
        sender: header(text, 'Return-path').replace(/^<|>$/g, ''),
        recipients: header(text, 'Envelope-to')
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
        file,
        meta: {},
      });
    }
    return out;
  };
  let stopped = false;
  return {
    name: 'exim',
    host: '127.0.0.1',
    port,
    tls: await readTestTls(),
    users,
    features: {
      starttls: true,
      implicitTls: false,
      authMechanisms: ['PLAIN', 'LOGIN'],
      pipelining: true,
      chunking: true,
      smtputf8: false,
      eightBitMime: true,
      sizeLimit,
    },
    addedHeaders: ['Return-path', 'Envelope-to', 'Delivery-date', 'Received'],
    notes: ['Extracted from exim4-daemon-light 4.96, not installed (it conflicts with Postfix).'],
    workDir: dir,
    readMessages,
    async waitForMessages(count: number, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const messages = await readMessages();
        if (messages.length >= count) return messages;
        if (Date.now() > end)
          throw new Error(`exim: ${messages.length} of ${count} messages after ${timeoutMs} ms\n${await logTail()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async clearMessages() {
      for (const name of await readdir(maildir).catch(() => [] as string[])) await rm(join(maildir, name));
    },
    logTail,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopLogged(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
