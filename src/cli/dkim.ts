/**
 * DKIM on the command line: the `--dkim-*` flags of `send` (repeatable, one signature per `--dkim-key`,
 * e.g. RSA + Ed25519) and `smtpwire dkim-record`, which prints the DNS TXT record to publish for a key.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type DkimOptions, dkimDnsRecord, dkimRecordName } from './api.js';
import { type CliIo, EXIT_OK, UsageError } from './common.js';

/** `smtpwire dkim-record --help`. */
export const DKIM_RECORD_USAGE = `usage: smtpwire dkim-record --key FILE --selector S --domain D
  Prints the DNS TXT record for a DKIM key (private or public PEM), in zone-file form:
  S._domainkey.D. IN TXT "v=DKIM1; k=rsa|ed25519; p=…" (split into 255-octet strings).`;

/** The `send` flags; each may be repeated, paired by position (one domain or selector serves every key). */
export const DKIM_SEND_OPTIONS = {
  'dkim-domain': { type: 'string', multiple: true },
  'dkim-selector': { type: 'string', multiple: true },
  'dkim-key': { type: 'string', multiple: true },
} as const;

/** The `send` usage line for the flags above. */
export const DKIM_SEND_USAGE = '[--dkim-domain D --dkim-selector S --dkim-key FILE]…';

function readKey(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the key file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/**
 * The handler's `dkim` option from the `send` flags, or undefined without `--dkim-key`.
 * @throws UsageError when the flags do not pair up.
 */
export function dkimFromFlags(values: {
  'dkim-domain'?: string[];
  'dkim-selector'?: string[];
  'dkim-key'?: string[];
}): DkimOptions[] | undefined {
  const keys = values['dkim-key'] ?? [];
  const domains = values['dkim-domain'] ?? [];
  const selectors = values['dkim-selector'] ?? [];
  if (keys.length === 0) {
    if (domains.length || selectors.length) throw new UsageError('--dkim-domain and --dkim-selector need --dkim-key');
    return undefined;
  }
  const pick = (list: string[], i: number, flag: string): string => {
    if (list.length !== 1 && list.length !== keys.length)
      throw new UsageError(`give ${flag} once, or once per --dkim-key (${keys.length})`);
    return list.length === 1 ? list[0]! : list[i]!;
  };
  return keys.map((path, i) => ({
    domainName: pick(domains, i, '--dkim-domain'),
    keySelector: pick(selectors, i, '--dkim-selector'),
    privateKey: readKey(path),
  }));
}

/** Zone-file TXT data: quoted strings of at most 255 octets (RFC 1035 §3.3.14). */
function quotedStrings(value: string): string {
  return (value.match(/.{1,255}/g) ?? ['']).map((s) => `"${s}"`).join(' ');
}

/** `smtpwire dkim-record`; resolves with the exit code. @throws UsageError. */
export async function dkimRecordCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: { key: { type: 'string' }, selector: { type: 'string' }, domain: { type: 'string' } },
  });
  if (positionals.length) throw new UsageError('dkim-record takes no positional argument');
  if (!values.key || !values.selector || !values.domain)
    throw new UsageError('--key, --selector and --domain are required');
  // The signer's own rules for s= and d=: a newline or a space in either would forge zone-file lines.
  let name: string;
  try {
    name = dkimRecordName(values.selector, values.domain);
  } catch (err) {
    throw new UsageError(`--${(err as { field?: string }).field}: ${(err as Error).message}`);
  }
  const record = dkimDnsRecord(readKey(values.key));
  io.stdout.write(`${name} IN TXT ${quotedStrings(record)}\n`);
  return EXIT_OK;
}
