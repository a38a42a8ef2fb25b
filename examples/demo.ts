/**
 * `npm start`: a real message through smtpwire, end to end, with nothing to set up.
 *
 * Starts the npm `smtp-server` (a dev dependency: examples/ is outside src/ and the package) on a free
 * loopback port with STARTTLS and AUTH, sends one message with an attachment through
 * `SmtpProtocolHandler`, and prints the redacted transcript, the DeliveryResult and what the server
 * received, read back with mailparser.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { SmtpDeliveryStatus, SmtpProtocolHandler, type TranscriptEntry } from '../src/index.js';
import { testCertificates } from '../src/testing/certs.js';

const USER = 'demo';
const PASSWORD = 'demo-password';

async function main(): Promise<number> {
  const certs = testCertificates();
  const received: Buffer[] = [];
  const server = new SMTPServer({
    logger: false,
    key: certs.key,
    cert: certs.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASSWORD) cb(null, { user: USER });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks));
        cb(null, 'Queued');
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  console.log(`smtp-server listening on 127.0.0.1:${port} (STARTTLS, AUTH PLAIN/LOGIN)\n`);

  const transcript: TranscriptEntry[] = [];
  const handler = new SmtpProtocolHandler({
    hostname: 'localhost',
    port,
    username: USER,
    password: PASSWORD,
    encryption: 'tls',
    fromAddress: '"smtpwire demo" <demo@smtpwire.example>',
    tls: { ca: certs.ca },
    onTranscript: (entry) => transcript.push(entry),
  });

  const result = await handler.sendMessage({
    toAddresses: ['"Zoë Recipient" <zoe@example.com>'],
    subject: 'Hello from smtpwire ✉',
    textBody: 'This message went through STARTTLS and AUTH, built and sent by smtpwire.\n',
    htmlBody: '<p>This message went through <b>STARTTLS</b> and <b>AUTH</b>, built and sent by smtpwire.</p>',
    attachments: [{ filename: 'hello.txt', content: 'attached text\n' }],
  });
  await handler.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));

  console.log('Transcript (AUTH payloads redacted):');
  for (const { direction, line } of transcript) console.log(`  ${direction === 'client' ? 'C:' : 'S:'} ${line}`);
  console.log('\nDeliveryResult:');
  console.log(JSON.stringify(result.toJSON(), null, 2));
  const stored = received[0];
  if (stored) {
    const parsed = await simpleParser(stored);
    console.log('\nWhat the server received (read back with mailparser):');
    console.log(`  From:        ${parsed.from?.text}`);
    console.log(
      `  To:          ${Array.isArray(parsed.to) ? parsed.to.map((t) => t.text).join(', ') : parsed.to?.text}`,
    );
    console.log(`  Subject:     ${parsed.subject}`);
    console.log(`  Message-ID:  ${parsed.messageId}`);
    console.log(`  Attachments: ${parsed.attachments.map((a) => `${a.filename} (${a.size} bytes)`).join(', ')}`);
    console.log(`  Size:        ${stored.length} octets`);
  }
  return result.status === SmtpDeliveryStatus.SUCCESS && received.length === 1 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
