/**
 * The smtpwire CLI in tests: spawned as a user would run it (`node --import tsx src/cli/main.ts …`, or a
 * compiled main.js), or its `main` called in this process with captured streams.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main as cliMain } from '../../src/cli/main.js';

/** The CLI's entry point in the source tree. */
export const CLI_MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

/** What a CLI run printed, and its exit code. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `main` (TypeScript through tsx, or JavaScript as is) with `args`; resolves when it exits. */
export function runCli(args: string[], options: { env?: Record<string, string>; main?: string } = {}): Promise<CliRun> {
  const main = options.main ?? CLI_MAIN;
  const node = main.endsWith('.ts') ? ['--import', 'tsx', main] : [main];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...node, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Calls the CLI's `main` in this process (no stdin, empty environment) and returns what it wrote. */
export async function runMain(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await cliMain(argv, { stdout, stderr, stdin: new PassThrough(), env: {} });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}
