/**
 * Client CPU per new STARTTLS connection, with and without TLS session resumption (issue 10).
 * `npx tsx bench/tls-resume.ts [connections]`: opens N connections one after another to a local
 * scripted TLS server (greeting, EHLO, STARTTLS, handshake, EHLO, NOOP, QUIT) and prints the client's
 * own CPU per connection (process.cpuUsage; the server runs in a child process).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TlsSessionStore } from '../src/transport/connect.js';
import { SmtpConnection } from '../src/transport/connection.js';

if (process.argv[2] === '--server') {
  const { startScriptedServer } = await import('../src/testing/index.js');
  const server = await startScriptedServer({ tls: true, record: false });
  process.send!({ port: server.port, ca: String(server.ca) });
} else {
  const n = Number(process.argv[2] ?? '300');
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { execArgv: ['--import', 'tsx'] });
  const { port, ca } = await new Promise<{ port: number; ca: string }>((resolve) =>
    child.once('message', resolve as never),
  );
  const tls = { ca };
  const run = async (sessions: TlsSessionStore | undefined): Promise<number> => {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const c = new SmtpConnection({
        host: 'localhost',
        port,
        encryption: 'tls',
        tls,
        ...(sessions ? { tlsSessions: sessions } : {}),
      });
      await c.connect();
      await c.noop();
      await c.close();
    }
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / 1000 / n;
  };
  await run(new TlsSessionStore()); // warm-up (JIT)
  const full = await run(undefined);
  const resumed = await run(new TlsSessionStore());
  console.log(
    `client CPU per new STARTTLS connection over ${n}: full handshake ${full.toFixed(2)} ms, resumed ${resumed.toFixed(2)} ms (${((100 * resumed) / full).toFixed(0)} %)`,
  );
  child.kill();
}
