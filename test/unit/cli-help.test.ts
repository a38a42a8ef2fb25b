/** `smtpwire --help` lists every command the dispatcher knows (it once left out conform). */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COMMANDS, main, USAGE } from '../../src/cli/main.js';

describe('smtpwire --help', () => {
  it('shows the usage of every command, conform included', async () => {
    let out = '';
    const stdout = new PassThrough();
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await main(['--help'], { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {} });
    expect(code).toBe(0);
    expect(out).toBe(USAGE);
    expect(Object.keys(COMMANDS)).toContain('conform');
    for (const name of Object.keys(COMMANDS)) expect(out, name).toContain(`usage: smtpwire ${name} `);
  });
});
