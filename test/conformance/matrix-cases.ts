/**
 * The client-side conformance matrix of issue 7, as data: which cases run against which real
 * server, what each case proves (the rows of the README table), and why a cell is n/a.
 *
 * Shared by `matrix.test.ts` (which runs every case) and `matrix-report.ts` (which turns a
 * vitest JSON report of that run into the README table), so the test names and the table
 * cannot drift apart.
 */
import type { ServerFeatures, ServerName } from './servers/types.js';

/** The capabilities the matrix plans from. */
export type PlannedFeatures = Omit<ServerFeatures, 'sizeLimit'>;

/** How the client reaches the server. */
export type MatrixEncryption = 'none' | 'starttls' | 'implicit';

/** SASL mechanism, or none (no credentials). */
export type MatrixAuth = 'none' | (typeof MATRIX_MECHANISMS)[number];

/** The mechanisms the matrix tries by name on every server (SCRAM: issue 15). */
export const MATRIX_MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256', 'SCRAM-SHA-1'] as const;

/** What is sent. */
export type MatrixContent = 'text' | '8bit' | 'dots' | 'utf8-address' | 'refused' | 'attachment-20mb';

/** One row of the README table: a capability or a content case. */
export type MatrixRow =
  | 'enc:none'
  | 'enc:starttls'
  | 'enc:implicit'
  | 'auth:PLAIN'
  | 'auth:LOGIN'
  | 'auth:CRAM-MD5'
  | 'auth:SCRAM-SHA-256'
  | 'auth:SCRAM-SHA-1'
  | 'pipelining:on'
  | 'pipelining:off'
  | 'bdat'
  | 'utf8-address'
  | 'smtputf8-refusal'
  | '8bit'
  | 'dots'
  | 'attachment-20mb'
  | 'refused';

/** Row order and labels of the README table. */
export const MATRIX_ROWS: readonly { readonly row: MatrixRow; readonly label: string }[] = [
  { row: 'enc:none', label: 'Plain SMTP (no TLS)' },
  { row: 'enc:starttls', label: 'STARTTLS (certificate verified)' },
  { row: 'enc:implicit', label: 'Implicit TLS (certificate verified)' },
  { row: 'auth:PLAIN', label: 'AUTH PLAIN' },
  { row: 'auth:LOGIN', label: 'AUTH LOGIN' },
  { row: 'auth:CRAM-MD5', label: 'AUTH CRAM-MD5' },
  { row: 'auth:SCRAM-SHA-256', label: 'AUTH SCRAM-SHA-256 (no password on the wire)' },
  { row: 'auth:SCRAM-SHA-1', label: 'AUTH SCRAM-SHA-1' },
  { row: 'pipelining:on', label: 'PIPELINING used (MAIL+RCPT+DATA in one batch)' },
  { row: 'pipelining:off', label: 'pipelining: false (lock-step)' },
  { row: 'bdat', label: 'BDAT (`chunking: true`)' },
  { row: 'utf8-address', label: 'UTF-8 address (SMTPUTF8)' },
  { row: 'smtputf8-refusal', label: '`ERR_SMTP_SMTPUTF8_UNSUPPORTED` without SMTPUTF8' },
  { row: '8bit', label: '8-bit body (BODY=8BITMIME)' },
  { row: 'dots', label: 'Leading dots, bare CR, bare LF (normalised to CRLF)' },
  { row: 'attachment-20mb', label: '20 MB attachment (streamed from a file)' },
  { row: 'refused', label: 'Refused recipient among accepted ones' },
];

/**
 * What each server offers, as the harness documents it (test/conformance/README.md). The test
 * names must be known before the servers start, so the matrix is planned from this copy and
 * `matrix.test.ts` checks in its `beforeAll` that the running server reports exactly this.
 */
export const EXPECTED_FEATURES: Readonly<Record<ServerName, PlannedFeatures>> = {
  postfix: {
    starttls: true,
    implicitTls: true,
    authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256', 'SCRAM-SHA-1'],
    pipelining: true,
    chunking: true,
    smtputf8: true,
    eightBitMime: true,
  },
  aiosmtpd: {
    starttls: true,
    implicitTls: true,
    authMechanisms: ['LOGIN', 'PLAIN'],
    pipelining: false,
    chunking: false,
    smtputf8: true,
    eightBitMime: true,
  },
  'smtp-server': {
    starttls: true,
    implicitTls: true,
    authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    pipelining: true,
    chunking: false,
    smtputf8: true,
    eightBitMime: true,
  },
};

/** One test of the matrix. */
export interface MatrixCase {
  readonly server: ServerName;
  readonly encryption: MatrixEncryption;
  readonly auth: MatrixAuth;
  /** The handler's `pipelining` option. */
  readonly pipelining: boolean;
  /** The handler's `chunking` option. */
  readonly chunking: boolean;
  readonly content: MatrixContent;
  /** The vitest test name, e.g. `postfix › starttls › AUTH LOGIN › pipelining off › DATA › dot+bare-CR/LF body`. */
  readonly name: string;
  /** Rows this case proves when it passes. */
  readonly rows: readonly MatrixRow[];
  /** Rows this case shows to be n/a for the server, with the fallback it verified. */
  readonly naRows: Readonly<Partial<Record<MatrixRow, string>>>;
}

const CONTENT_LABEL: Record<MatrixContent, string> = {
  text: 'plain text',
  '8bit': '8-bit body',
  dots: 'dot+bare-CR/LF body',
  'utf8-address': 'UTF-8 address',
  refused: 'refused recipient among accepted',
  'attachment-20mb': '20 MB attachment',
};

const CONTENT_ROW: Partial<Record<MatrixContent, MatrixRow>> = {
  '8bit': '8bit',
  dots: 'dots',
  'utf8-address': 'utf8-address',
  refused: 'refused',
  'attachment-20mb': 'attachment-20mb',
};

/** The transfer verb the client must use for a case: BDAT only when asked for and offered. */
export function usesBdat(c: Pick<MatrixCase, 'chunking'>, features: PlannedFeatures): boolean {
  return c.chunking && features.chunking;
}

/** Whether the client must pipeline: asked for (the default) and advertised. */
export function usesPipelining(c: Pick<MatrixCase, 'pipelining'>, features: PlannedFeatures): boolean {
  return c.pipelining && features.pipelining;
}

function makeCase(
  server: ServerName,
  features: PlannedFeatures,
  spec: Omit<MatrixCase, 'server' | 'name' | 'rows' | 'naRows'>,
): MatrixCase {
  const bdat = usesBdat(spec, features);
  const verb = bdat ? 'BDAT' : spec.chunking ? 'BDAT requested, not offered → DATA' : 'DATA';
  const pipe = !spec.pipelining
    ? 'pipelining off'
    : features.pipelining
      ? 'pipelining on'
      : 'pipelining on, not offered → lock-step';
  const authOffered = spec.auth === 'none' || features.authMechanisms.includes(spec.auth);
  const authLabel =
    spec.auth === 'none'
      ? 'no AUTH'
      : authOffered
        ? `AUTH ${spec.auth}`
        : `AUTH ${spec.auth} not offered → ERR_SMTP_AUTH_UNAVAILABLE`;
  const name = [server, spec.encryption, authLabel, pipe, verb, CONTENT_LABEL[spec.content]].join(' › ');
  if (!authOffered) {
    return {
      server,
      ...spec,
      name,
      rows: [],
      naRows: {
        [`auth:${spec.auth}`]: `not offered; \`authMethod: '${spec.auth}'\` gives \`ERR_SMTP_AUTH_UNAVAILABLE\` before MAIL (verified)`,
      },
    };
  }
  const rows: MatrixRow[] = [`enc:${spec.encryption}`];
  if (spec.auth !== 'none') rows.push(`auth:${spec.auth}`);
  if (usesPipelining(spec, features)) rows.push('pipelining:on');
  if (!spec.pipelining) rows.push('pipelining:off');
  if (bdat) rows.push('bdat');
  const contentRow =
    spec.content === 'utf8-address' && !features.smtputf8 ? 'smtputf8-refusal' : CONTENT_ROW[spec.content];
  if (contentRow) rows.push(contentRow);
  const naRows: Partial<Record<MatrixRow, string>> = {};
  if (spec.pipelining && !features.pipelining)
    naRows['pipelining:on'] = 'PIPELINING not advertised; smtpwire stayed lock-step (verified)';
  if (spec.chunking && !features.chunking)
    naRows.bdat = 'CHUNKING not advertised; `chunking: true` fell back to DATA (verified)';
  return { server, ...spec, name, rows, naRows };
}

/** The content cases every server gets, in both pipelining modes (DATA). */
const CONTENT_CASES: readonly MatrixContent[] = ['8bit', 'dots', 'utf8-address', 'refused'];

/**
 * The cases for one server, from what it offers:
 * - every offered encryption × every offered mechanism (plus no AUTH over plain SMTP), plain text,
 *   pipelining alternating on/off;
 * - every content case with pipelining on and off over DATA, rotating through the encryptions and
 *   mechanisms, and once more over BDAT with `chunking: true` (which must fall back to DATA where
 *   CHUNKING is not offered);
 * - the 20 MB attachment once over DATA and, where CHUNKING is offered, once over BDAT.
 */
export function matrixCases(server: ServerName, features: PlannedFeatures = EXPECTED_FEATURES[server]): MatrixCase[] {
  const encryptions: MatrixEncryption[] = ['none'];
  if (features.starttls) encryptions.push('starttls');
  if (features.implicitTls) encryptions.push('implicit');
  const mechanisms = MATRIX_MECHANISMS.filter((m) => features.authMechanisms.includes(m));
  const out: MatrixCase[] = [];
  const add = (spec: Omit<MatrixCase, 'server' | 'name' | 'rows' | 'naRows'>): void =>
    void out.push(makeCase(server, features, spec));

  add({ encryption: 'none', auth: 'none', pipelining: true, chunking: false, content: 'text' });
  let i = 0;
  for (const encryption of encryptions) {
    for (const auth of mechanisms) {
      add({ encryption, auth, pipelining: i++ % 2 === 1, chunking: false, content: 'text' });
    }
  }

  // Content cases: each variant of a content case meets another encryption and mechanism.
  CONTENT_CASES.forEach((content, n) => {
    const variants = [
      { pipelining: true, chunking: false },
      { pipelining: false, chunking: false },
      { pipelining: true, chunking: true },
    ];
    variants.forEach((variant, j) => {
      const encryption = encryptions[(n + 2 * j) % encryptions.length]!;
      const auth = mechanisms.length === 0 ? 'none' : mechanisms[(n + j) % mechanisms.length]!;
      add({ encryption, auth, ...variant, content });
    });
  });
  // A mechanism the server does not offer, asked for by name: a typed error, nothing sent.
  for (const auth of MATRIX_MECHANISMS.filter((m) => !mechanisms.includes(m))) {
    add({
      encryption: features.starttls ? 'starttls' : 'none',
      auth,
      pipelining: true,
      chunking: false,
      content: 'text',
    });
  }
  add({
    encryption: features.starttls ? 'starttls' : 'none',
    auth: mechanisms[0] ?? 'none',
    pipelining: true,
    chunking: false,
    content: 'attachment-20mb',
  });
  if (features.chunking) {
    add({
      encryption: features.implicitTls ? 'implicit' : 'none',
      auth: mechanisms[1] ?? mechanisms[0] ?? 'none',
      pipelining: true,
      chunking: true,
      content: 'attachment-20mb',
    });
  }
  return out;
}

/**
 * Why a row has no case for a server (the table shows `n/a` with this text), or undefined when
 * the row is expected to be covered.
 */
export function notApplicable(row: MatrixRow, features: PlannedFeatures): string | undefined {
  switch (row) {
    case 'enc:starttls':
      return features.starttls ? undefined : 'STARTTLS not offered';
    case 'enc:implicit':
      return features.implicitTls ? undefined : 'no implicit-TLS port';
    case 'auth:PLAIN':
    case 'auth:LOGIN':
    case 'auth:CRAM-MD5':
    case 'auth:SCRAM-SHA-256':
    case 'auth:SCRAM-SHA-1':
      return features.authMechanisms.includes(row.slice('auth:'.length)) ? undefined : 'mechanism not offered';
    case 'pipelining:on':
      return features.pipelining ? undefined : 'PIPELINING not advertised';
    case 'bdat':
      return features.chunking ? undefined : 'CHUNKING not advertised';
    case 'utf8-address':
      return features.smtputf8 ? undefined : 'SMTPUTF8 not offered';
    case 'smtputf8-refusal':
      return features.smtputf8
        ? 'SMTPUTF8 is offered (the refusal is tested with it hidden in test/integration/connection-smtp-server.test.ts)'
        : undefined;
    default:
      return undefined;
  }
}
