/**
 * The MX lab (issue 26): a signed zone `lab.test.` (ldns-keygen + ldns-signzone) served by a private
 * nsd, a private unbound validating it with the zone's key as trust anchor, receiving MTAs
 * (smtpwire/testing's server) on 127.0.0.2…127.0.0.8 at one port, and an HTTPS MTA-STS policy server
 * on 127.0.0.1. Everything on loopback, in a temp dir, killed by `stop()`. Certificates are issued at
 * start by the test CA of fixtures/certs with `openssl`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

const CERTS = join(import.meta.dirname, '../../fixtures/certs');
export const ZONE = 'lab.test';
const BINARIES = [
  '/usr/sbin/nsd',
  '/usr/sbin/unbound',
  '/usr/bin/ldns-signzone',
  '/usr/bin/ldns-keygen',
  '/usr/bin/openssl',
];

export function labUnavailable(): string | null {
  const missing = BINARIES.filter((b) => !existsSync(b));
  return missing.length === 0
    ? null
    : `missing ${missing.join(', ')} (run .ci/install-servers.sh as root: unbound ldnsutils nsd)`;
}

/** Names whose certificate is valid (issued by the lab CA). */
const GOOD_NAMES = [
  'mx1.plain',
  'mx2.plain',
  'implicit',
  'mx.fallback',
  'mx.tempfail',
  'mx.sts',
  'mx.stsbad',
  'rogue.stsbad',
  'mx.daneta',
  'mx.dane',
  'mx.danebad',
  'mx.bogus',
  'mta-sts.sts',
  'mta-sts.stsbad',
  'mta-sts.stscert',
  'mta-sts.ststest',
].map((n) => `${n}.${ZONE}`);

export interface Lab {
  resolver: { host: string; port: number };
  smtpPort: number;
  httpsPort: number;
  ca: string;
  servers: Map<string, ScriptedSmtpServer>;
  /** Messages received per server address. */
  received(ip: string): number;
  /** Policy fetches per lab label (`sts`, `stsbad` …). */
  policyFetches(label: string): number;
  stop(): Promise<void>;
}

async function freePort(hosts: string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(
      hosts.map(
        (host) =>
          new Promise<boolean>((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(port, host, () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no free port on every lab address');
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function spki256(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
  return createHash('sha256').update(spki).digest('hex');
}

function certSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

function waitForPort(host: string, port: number, proc: ChildProcess, name: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    const tryOnce = (): void => {
      if (proc.exitCode !== null) {
        reject(new Error(`${name} exited (${proc.exitCode}): ${log()}`));
        return;
      }
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`${name} did not start: ${log()}`));
        else setTimeout(tryOnce, 100);
      });
    };
    tryOnce();
  });
}

export async function startLab(): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-mx-lab-'));
  const procs: ChildProcess[] = [];
  const servers = new Map<string, ScriptedSmtpServer>();
  let policyServer: https.Server | null = null;
  const stop = async (): Promise<void> => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all([...servers.values()].map((s) => s.close()));
    await new Promise<void>((r) => (policyServer ? policyServer.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // ── certificates: a good leaf for every good name (chain: leaf + lab CA), a self-signed bad one ──
    const san = GOOD_NAMES.map((n) => `DNS:${n}`).join(',');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'good-key.pem'], dir);
    openssl(['req', '-new', '-key', 'good-key.pem', '-subj', '/CN=mx.lab.test', '-out', 'good.csr'], dir);
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'good.csr',
        '-CA',
        join(CERTS, 'ca.pem'),
        '-CAkey',
        join(CERTS, 'ca-key.pem'),
        '-CAcreateserial',
        '-CAserial',
        join(dir, 'ca.srl'),
        '-days',
        '2',
        '-sha256',
        '-extfile',
        'ext.cnf',
        '-out',
        'good.pem',
      ],
      dir,
    );
    const ca = readFileSync(join(CERTS, 'ca.pem'), 'utf8');
    const goodCert = readFileSync(join(dir, 'good.pem'), 'utf8');
    const goodKey = readFileSync(join(dir, 'good-key.pem'), 'utf8');
    const badCert = readFileSync(join(CERTS, 'untrusted.pem'), 'utf8');
    const badKey = readFileSync(join(CERTS, 'untrusted-key.pem'), 'utf8');
    const good = { cert: goodCert + ca, key: goodKey };

    // ── receiving MTAs ──
    const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'];
    const smtpPort = await freePort([...ips, '127.0.0.9']);
    for (const ip of ips) {
      const server = await startScriptedServer({
        host: ip,
        port: smtpPort,
        hostname: `mta-${ip}`,
        tls: ip === '127.0.0.6' ? { cert: badCert, key: badKey } : good,
        ...(ip === '127.0.0.7' ? { capabilities: (d: string[]) => [...d, 'REQUIRETLS'] } : {}),
        ...(ip === '127.0.0.8' ? { script: [{ on: 'MAIL' as const, reply: '451 4.3.0 busy, try another MX' }] } : {}),
      });
      servers.set(ip, server);
    }

    // ── the MTA-STS policy server (one for every lab domain, by Host) ──
    const policies: Record<string, string> = {
      sts: 'version: STSv1\r\nmode: enforce\r\nmx: mx.sts.lab.test\r\nmax_age: 86400\r\n',
      stsbad: 'version: STSv1\r\nmode: enforce\r\nmx: mx.stsbad.lab.test\r\nmax_age: 86400\r\n',
      stscert: 'version: STSv1\r\nmode: enforce\r\nmx: *.stscert.lab.test\r\nmax_age: 86400\r\n',
      ststest: 'version: STSv1\r\nmode: testing\r\nmx: *.ststest.lab.test\r\nmax_age: 86400\r\n',
    };
    const fetches = new Map<string, number>();
    policyServer = https.createServer({ ...good }, (req, res) => {
      const label = /^mta-sts\.([a-z]+)\.lab\.test/.exec(req.headers.host ?? '')?.[1] ?? '';
      fetches.set(label, (fetches.get(label) ?? 0) + 1);
      const body = policies[label];
      if (req.url !== '/.well-known/mta-sts.txt' || body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((r) => policyServer!.listen(0, '127.0.0.1', () => r()));
    const httpsPort = (policyServer.address() as net.AddressInfo).port;

    // ── the zone ──
    const tlsa = `_${smtpPort}._tcp`;
    const goodSpki = spki256(goodCert);
    const caSha = certSha256(ca);
    const zone = `$ORIGIN ${ZONE}.
$TTL 300
@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 300
@ IN NS ns.${ZONE}.
ns IN A 127.0.0.1
plain IN MX 20 mx2.plain
plain IN MX 10 mx1.plain
mx1.plain IN A 127.0.0.2
mx2.plain IN A 127.0.0.3
implicit IN A 127.0.0.2
nullmx IN MX 0 .
fallback IN MX 10 down.fallback
fallback IN MX 20 mx.fallback
down.fallback IN A 127.0.0.9
mx.fallback IN A 127.0.0.3
tempfail IN MX 10 busy.tempfail
tempfail IN MX 20 mx.tempfail
busy.tempfail IN A 127.0.0.8
mx.tempfail IN A 127.0.0.3
sts IN MX 10 mx.sts
mx.sts IN A 127.0.0.4
_mta-sts.sts IN TXT "v=STSv1; id=20261206"
mta-sts.sts IN A 127.0.0.1
_smtp._tls.sts IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@sts.lab.test"
stsbad IN MX 10 rogue.stsbad
rogue.stsbad IN A 127.0.0.5
_mta-sts.stsbad IN TXT "v=STSv1; id=1"
mta-sts.stsbad IN A 127.0.0.1
stscert IN MX 10 mx.stscert
mx.stscert IN A 127.0.0.6
_mta-sts.stscert IN TXT "v=STSv1; id=1"
mta-sts.stscert IN A 127.0.0.1
ststest IN MX 10 mx.ststest
mx.ststest IN A 127.0.0.6
_mta-sts.ststest IN TXT "v=STSv1; id=1"
mta-sts.ststest IN A 127.0.0.1
dane IN MX 10 mx.dane
mx.dane IN A 127.0.0.7
${tlsa}.mx.dane IN TLSA 3 1 1 ${goodSpki}
danebad IN MX 10 mx.danebad
mx.danebad IN A 127.0.0.5
${tlsa}.mx.danebad IN TLSA 3 1 1 ${'00'.repeat(32)}
daneta IN MX 10 mx.daneta
mx.daneta IN A 127.0.0.4
${tlsa}.mx.daneta IN TLSA 2 0 1 ${caSha}
bogus IN MX 10 mx.bogus
mx.bogus IN A 127.0.0.7
${tlsa}.mx.bogus IN TLSA 3 1 1 ${goodSpki}
`;
    writeFileSync(join(dir, 'lab.test.zone'), zone);
    const keygen = (args: string[]): string =>
      execFileSync('ldns-keygen', [...args, '-a', 'ECDSAP256SHA256', ZONE], { cwd: dir, encoding: 'utf8' }).trim();
    const ksk = keygen(['-k']);
    const zsk = keygen([]);
    execFileSync('ldns-signzone', ['-n', 'lab.test.zone', ksk, zsk], { cwd: dir, stdio: 'pipe' });
    // The bogus case: break the signature over mx.bogus's TLSA records (a validating resolver says SERVFAIL).
    const signed = readFileSync(join(dir, 'lab.test.zone.signed'), 'utf8').split('\n');
    const owner = `${tlsa}.mx.bogus.${ZONE}.`;
    let broken = false;
    const out = signed.map((line) => {
      const f = line.split(/\s+/);
      if (f[0] === owner && f[3] === 'RRSIG' && f[4] === 'TLSA') {
        broken = true;
        const sig = f[f.length - 1]!;
        f[f.length - 1] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
        return f.join(' ');
      }
      return line;
    });
    if (!broken) throw new Error('lab: no RRSIG over the bogus TLSA records to break');
    writeFileSync(join(dir, 'lab.test.zone.signed'), out.join('\n'));

    // ── nsd ──
    const nsdPort = await freePort(['127.0.0.1']);
    writeFileSync(
      join(dir, 'nsd.conf'),
      `server:
  ip-address: 127.0.0.1
  port: ${nsdPort}
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  database: ""
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  logfile: "${dir}/nsd.log"
  server-count: 1
  verbosity: 1
  do-ip6: no
remote-control:
  control-enable: no
zone:
  name: "${ZONE}"
  zonefile: "${dir}/lab.test.zone.signed"
`,
    );
    const nsdLog = (): string => (existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '');
    const nsd = spawn('nsd', ['-d', '-c', join(dir, 'nsd.conf')], { stdio: 'ignore' });
    procs.push(nsd);
    await waitForPort('127.0.0.1', nsdPort, nsd, 'nsd', nsdLog);

    // ── unbound, validating with the zone's KSK as trust anchor ──
    const unboundPort = await freePort(['127.0.0.1']);
    writeFileSync(
      join(dir, 'unbound.conf'),
      `server:
  interface: 127.0.0.1
  port: ${unboundPort}
  do-ip6: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  logfile: "${dir}/unbound.log"
  use-syslog: no
  num-threads: 1
  so-reuseport: no
  outgoing-range: 32
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  trust-anchor-file: "${dir}/${ksk}.key"
  local-zone: "test." nodefault
  harden-dnssec-stripped: yes
  val-log-level: 2
  verbosity: 1
remote-control:
  control-enable: no
stub-zone:
  name: "${ZONE}"
  stub-addr: 127.0.0.1@${nsdPort}
stub-zone:
  name: "."
  stub-addr: 127.0.0.1@${nsdPort}
`,
    );
    const unboundLog = (): string =>
      existsSync(join(dir, 'unbound.log')) ? readFileSync(join(dir, 'unbound.log'), 'utf8') : '';
    const unbound = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: 'ignore' });
    procs.push(unbound);
    await waitForPort('127.0.0.1', unboundPort, unbound, 'unbound', unboundLog);

    return {
      resolver: { host: '127.0.0.1', port: unboundPort },
      smtpPort,
      httpsPort,
      ca,
      servers,
      received: (ip) => servers.get(ip)?.messages.length ?? 0,
      policyFetches: (label) => fetches.get(label) ?? 0,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
