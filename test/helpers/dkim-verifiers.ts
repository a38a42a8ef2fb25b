/**
 * Independent DKIM verifiers for the tests: mailauth (npm, dev dependency) and dkimpy (Debian
 * `python3-dkim`, `python3-nacl` for Ed25519), both given the test keys through a custom DNS function.
 * dkimpy runs once per batch of messages: one Python process verifies them all.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimDnsRecord } from '../../src/message/dkim/key.js';

export const SYSTEM_PYTHON = '/usr/bin/python3';

const FIXTURES = fileURLToPath(new URL('../../fixtures/dkim/', import.meta.url));

/** The test keys (PEM), read once. */
export const DKIM_KEYS = {
  rsa2048: readFileSync(`${FIXTURES}rsa-2048.pem`, 'utf8'),
  rsa1024: readFileSync(`${FIXTURES}rsa-1024.pem`, 'utf8'),
  ed25519: readFileSync(`${FIXTURES}ed25519.pem`, 'utf8'),
  ed25519b: readFileSync(`${FIXTURES}ed25519-b.pem`, 'utf8'),
} as const;

/** DNS TXT records by name (`selector._domainkey.domain`, no trailing dot). */
export type DkimRecords = Record<string, string>;

/** The records for every fixture key under `example.com` with selectors named after the keys. */
export function fixtureRecords(domain = 'example.com'): DkimRecords {
  const records: DkimRecords = {};
  for (const [selector, pem] of Object.entries(DKIM_KEYS))
    records[`${selector}._domainkey.${domain}`] = dkimDnsRecord(pem);
  return records;
}

/** One result per DKIM-Signature, in the message's order: true when mailauth says `pass`. */
export async function mailauthVerify(message: Buffer, records: DkimRecords): Promise<boolean[]> {
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const txt = records[name.replace(/\.$/, '').toLowerCase()];
    if (type !== 'TXT' || txt === undefined) throw Object.assign(new Error(`no record ${name}`), { code: 'ENOTFOUND' });
    // TXT strings are at most 255 octets each; the resolver gives the chunks, mailauth joins them.
    return [txt.match(/.{1,255}/g) ?? []];
  };
  const result = await dkimVerify(message, { resolver });
  return result.results.map((r: { status: { result: string } }) => r.status.result === 'pass');
}

const DKIMPY_SCRIPT = String.raw`
import base64, json, re, sys
import dkim
req = json.load(sys.stdin)
records = {k.lower(): v.encode() for k, v in req['records'].items()}
def dnsfunc(name, timeout=5):
    key = name.decode() if isinstance(name, bytes) else name
    return records.get(key.rstrip('.').lower())
out = []
for b64 in req['messages']:
    msg = base64.b64decode(b64)
    head = re.split(rb'\r?\n\r?\n', msg, maxsplit=1)[0]
    count = len(re.findall(rb'(?im)^dkim-signature:', head))
    d = dkim.DKIM(msg, minkey=1024)
    res = []
    for i in range(count):
        try:
            res.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
        except Exception as e:
            res.append(False)
    out.append(res)
json.dump(out, sys.stdout)
`;

/** Why dkimpy cannot run here, or null when it can. */
export async function dkimpyUnavailable(): Promise<string | null> {
  try {
    await promisify(execFile)(SYSTEM_PYTHON, ['-c', 'import dkim, nacl']);
    return null;
  } catch (err) {
    return `dkimpy unavailable (${SYSTEM_PYTHON} with python3-dkim and python3-nacl): ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Verifies every message in one Python process; per message, one result per DKIM-Signature in order. */
export async function dkimpyVerify(messages: readonly Buffer[], records: DkimRecords): Promise<boolean[][]> {
  const child = spawn(SYSTEM_PYTHON, ['-c', DKIMPY_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => stdout.push(c));
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  const done = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  child.stdin.end(JSON.stringify({ records, messages: messages.map((m) => m.toString('base64')) }));
  const code = await done;
  if (code !== 0) throw new Error(`dkimpy failed (${code}): ${Buffer.concat(stderr).toString()}`);
  return JSON.parse(Buffer.concat(stdout).toString()) as boolean[][];
}
