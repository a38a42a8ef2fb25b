/**
 * A local SMTP sink for benchmarks: Postfix's smtp-sink (C) when installed, else smtp-server in a
 * child process. Loopback only; stopped by `stop()` and when this process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Sink {
  name: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sink exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sink did not listen on ${port} within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  return () =>
    new Promise((resolve) => {
      process.off('exit', kill);
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

/**
 * Starts a sink. `prefer: 'node'` forces the smtp-server sink; `stallMs` makes the node sink pause
 * reading each message's data for that long (to test backpressure).
 */
export async function startSink(options: { prefer?: 'postfix' | 'node'; stallMs?: number } = {}): Promise<Sink> {
  const port = await freePort();
  if (options.prefer !== 'node' && !options.stallMs && existsSync('/usr/sbin/smtp-sink')) {
    // -c: count, -P: PIPELINING, -e: no ETRN ... ; -u nobody drops privileges when run as root.
    const child = spawn('/usr/sbin/smtp-sink', ['-u', 'nobody', '-4', `127.0.0.1:${port}`, '1024'], {
      stdio: 'ignore',
    });
    await waitForPort(port, child);
    return { name: 'postfix smtp-sink', port, stop: stopper(child) };
  }
  const script = fileURLToPath(new URL('./sink-node.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(port), String(options.stallMs ?? 0)], {
    stdio: 'ignore',
  });
  await waitForPort(port, child);
  return {
    name: options.stallMs ? `smtp-server (stalls ${options.stallMs} ms)` : 'smtp-server (child process)',
    port,
    stop: stopper(child),
  };
}
