// smtp-server (the npm package) in its own process, run by smtp-server-process.ts.
// Plain JavaScript on purpose: `node file.mjs` starts in ~50 ms, a TypeScript loader
// would add several hundred ms to every suite run.
//
// Protocol with the parent (so no secret travels in argv):
//   stdin line 1: JSON config {spool, cert, key, users: [{username, password}],
//                 sizeLimit, refusedRecipient, hostname}
//   stdout:       one JSON line {"ready": true, "port": P, "tlsPort": Q}
//   stdin EOF:    close both servers and exit 0 (also when the parent dies).
//
// P offers STARTTLS, Q is implicit TLS. AUTH PLAIN, LOGIN and CRAM-MD5 (also without
// TLS: loopback only), PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, SIZE
// (enforced with 552 after the data, since smtp-server only counts). No CHUNKING.
// Messages go to SPOOL/ID.eml (bytes after dot-unstuffing, CRLF) + SPOOL/ID.json, .json last.

import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SMTPServer } from 'smtp-server';

const lines = createInterface({ input: process.stdin });
const first = await new Promise((resolve, reject) => {
  lines.once('line', resolve);
  lines.once('close', () => reject(new Error('stdin closed before the config line')));
});
const config = JSON.parse(first);
let counter = 0;

/** Writes one message and its envelope; the .json rename is the commit point. */
async function store(raw, session, meta) {
  counter += 1;
  const id = `${String(process.hrtime.bigint()).padStart(20, '0')}-${process.pid}-${counter}`;
  const envelope = {
    id,
    sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    recipients: session.envelope.rcptTo.map((r) => r.address),
    receivedAt: new Date().toISOString(),
    lineEnding: 'crlf',
    mailOptions: Object.entries(session.envelope.mailFrom?.args || {}).map(([k, v]) => (v === true ? k : `${k}=${v}`)),
    tls: Boolean(session.secure),
    authUser: session.user ?? null,
    ...meta,
  };
  for (const [suffix, payload] of [
    ['.eml', raw],
    ['.json', JSON.stringify(envelope)],
  ]) {
    const tmp = join(config.spool, `.${id}${suffix}.tmp`);
    await writeFile(tmp, payload);
    await rename(tmp, join(config.spool, id + suffix));
  }
  return id;
}

const users = new Map(config.users.map((u) => [u.username, u.password]));

function options(secure) {
  return {
    secure,
    key: readFileSync(config.key),
    cert: readFileSync(config.cert),
    name: config.hostname,
    banner: 'smtp-server (smtpwire conformance)',
    size: config.sizeLimit,
    authMethods: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    authOptional: true,
    allowInsecureAuth: true,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const expected = users.get(auth.username);
      const ok =
        expected !== undefined &&
        (auth.method === 'CRAM-MD5' ? auth.validatePassword(expected) : auth.password === expected);
      if (!ok) return callback(new Error('Invalid username or password'));
      return callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (address.address.toLowerCase() === config.refusedRecipient.toLowerCase()) {
        const err = new Error('Recipient refused (smtpwire conformance)');
        err.responseCode = 550;
        return callback(err);
      }
      return callback();
    },
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          const err = new Error('Message exceeds fixed maximum message size');
          err.responseCode = 552;
          return callback(err);
        }
        store(Buffer.concat(chunks), session, {}).then(
          (id) => callback(null, `OK queued as ${id}`),
          (err) => callback(err),
        );
      });
    },
  };
}

const plain = new SMTPServer(options(false));
const implicit = new SMTPServer(options(true));
for (const server of [plain, implicit]) server.on('error', (err) => console.error('smtp-server error:', err));

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.server.address().port));
  });
const port = await listen(plain);
const tlsPort = await listen(implicit);
process.stdout.write(`${JSON.stringify({ ready: true, port, tlsPort })}\n`);

lines.on('close', () => {
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) process.exit(0);
  };
  plain.close(done);
  implicit.close(done);
  // smtp-server waits for clients to QUIT; do not let a stuck client keep us alive.
  setTimeout(() => process.exit(0), 2000).unref();
});
