/**
 * Where a connection's protocol lines go: the caller's `onTranscript` and the `smtpwire:transcript`
 * diagnostics channel. Lines arrive already redacted; nothing is formatted when nobody listens.
 */
import { channels } from '../util/channels.js';
import type { TranscriptEntry } from './connection-types.js';

const channel = channels.transcript;

export class Transcript {
  readonly #onTranscript: ((entry: TranscriptEntry) => void) | undefined;
  readonly #host: string;
  readonly #port: number;

  constructor(onTranscript: ((entry: TranscriptEntry) => void) | undefined, host: string, port: number) {
    this.#onTranscript = onTranscript;
    this.#host = host;
    this.#port = port;
  }

  /** Whether anyone listens (so redaction work is skipped when nobody does). */
  get active(): boolean {
    return this.#onTranscript !== undefined || channel.hasSubscribers;
  }

  line(direction: 'client' | 'server', line: string): void {
    this.#onTranscript?.({ direction, line });
    if (channel.hasSubscribers) channel.publish({ host: this.#host, port: this.#port, direction, line });
  }
}
