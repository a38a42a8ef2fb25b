/**
 * The known keys of every options object, as data: a new option is added to its list here, or it is
 * refused as unknown (options.ts checks them). Each list is tied to its interface in both directions
 * at compile time by `test/unit/option-keys.test.ts`. No imports: pure data.
 */

/** `SmtpConnection` options. */
export const CONNECTION_OPTION_KEYS = Object.freeze([
  'host',
  'port',
  'encryption',
  'opportunisticTls',
  'tls',
  'clientName',
  'timeouts',
  'pipelining',
  'chunking',
  'chunkSize',
  'allowInsecureAuth',
  'maxLineLength',
  'maxReplyLines',
  'onTranscript',
  'protocol',
  'scramMinIterations',
  'socketFactory',
  'tlsSessions',
  'verifyPeer',
  'localAddress',
] as const);

/** `SmtpConnectionPool` options. */
export const POOL_OPTION_KEYS = Object.freeze([
  'maxConnections',
  'idleTimeout',
  'staleTimeout',
  'maxMessagesPerConnection',
  'acquireTimeout',
  'healthCheckAfter',
  'rateLimit',
  'connectionFactory',
] as const);

/** `pool.getConnection(params)`. */
export const POOL_PARAM_KEYS = Object.freeze([
  'host',
  'port',
  'encryption',
  'username',
  'password',
  'accessToken',
  'authMethod',
  'connection',
  'protocol',
] as const);

/** `SmtpProtocolHandler` options. */
export const HANDLER_OPTION_KEYS = Object.freeze([
  'hostname',
  'port',
  'username',
  'password',
  'encryption',
  'fromAddress',
  'poolSize',
  'tls',
  'authMethod',
  'clientName',
  'timeouts',
  'retryPolicy',
  'limits',
  'pipelining',
  'chunking',
  'allowInsecureAuth',
  'onTranscript',
  'accessToken',
  'opportunisticTls',
  'pool',
  'dkim',
  'dkimSpool',
  'protocol',
  'scramMinIterations',
  'localAddress',
] as const);

/** `probe()` options. */
export const PROBE_OPTION_KEYS = Object.freeze([
  'host',
  'port',
  'encryption',
  'opportunisticTls',
  'tls',
  'retryUnverified',
  'username',
  'password',
  'accessToken',
  'authMethod',
  'clientName',
  'timeouts',
  'allowInsecureAuth',
  'checks',
  'onTranscript',
] as const);

/**
 * nodemailer's SMTP transport spellings, with what to write instead. The handler takes them as
 * hints; the pool and connection use the subset that applies. (For nodemailer's options as they are,
 * use `createTransport` from `smtpwire/nodemailer`.)
 */
export const NODEMAILER_HINTS: Readonly<Record<string, string>> = Object.freeze({
  host: "write 'hostname' (smtpwire's name for the server)",
  secure: "write encryption: 'ssl' for implicit TLS (secure: true, port 465) or 'tls' for STARTTLS (the default)",
  auth: 'smtpwire takes username and password (or accessToken) at the top level',
  user: "write 'username'",
  pass: "write 'password'",
  requireTLS: "encryption: 'tls' (the default) already requires STARTTLS and never falls back to plaintext",
  ignoreTLS: "write encryption: 'none' (plaintext, no STARTTLS)",
  maxConnections: "write 'poolSize'",
  maxMessages: 'write pool: { maxMessagesPerConnection }',
  name: "write 'clientName' (the EHLO name)",
  connectionTimeout: 'write timeouts: { connect }',
  greetingTimeout: 'write timeouts: { greeting }',
  socketTimeout: 'write timeouts: { command } (the wait for each reply)',
  service: "smtpwire has no list of well-known services: give 'hostname', 'port' and 'encryption'",
  logger: 'write onTranscript: (entry) => … (one call per protocol line, secrets redacted)',
  debug: 'write onTranscript: (entry) => … (one call per protocol line, secrets redacted)',
  from: "write 'fromAddress'",
});

/** `probe({ checks })`: which optional checks run and with which addresses. */
export const PROBE_CHECKS_KEYS = Object.freeze(['enabled', 'bareLfRecipient', 'sender'] as const);

/** `conform()` options. */
export const CONFORM_OPTION_KEYS = Object.freeze([
  'host',
  'port',
  'encryption',
  'tls',
  'clientName',
  'username',
  'password',
  'accessToken',
  'authMethod',
  'sender',
  'rcpt',
  'relayTest',
  'only',
  'replyTimeout',
  'checkTimeout',
  'budget',
  'unknownCommandLimit',
  'signal',
] as const);

/** `sendMessage` options beyond the message's own keys (`MESSAGE_INPUT_KEYS`). */
export const SEND_MESSAGE_OPTION_KEYS = Object.freeze([
  'retry',
  'signal',
  'messageId',
  'onBeforeHandOver',
  'envelope',
  'dkim',
  'resume',
  'dsn',
] as const);

/** `sendRaw` options. */
export const SEND_RAW_OPTION_KEYS = Object.freeze([
  'retry',
  'signal',
  'messageId',
  'onBeforeHandOver',
  'dkim',
  'resume',
] as const);

/** `SmtpMxHandler` options. */
export const MX_HANDLER_OPTION_KEYS = Object.freeze([
  'transport',
  'resolver',
  'fromAddress',
  'clientName',
  'localAddress',
  'port',
  'poolSize',
  'timeouts',
  'retryPolicy',
  'limits',
  'dkim',
  'dkimSpool',
  'ipv6',
  'mtaSts',
  'dane',
  'ca',
  'onTranscript',
  'tlsRpt',
] as const);

/** `SmtpMxHandler({ mtaSts })`. */
export const MX_STS_OPTION_KEYS = Object.freeze(['cache', 'port', 'ca', 'timeout'] as const);

/** What the MX handler's `sendMessage` / `sendRaw` take beyond their own options. */
export const MX_SEND_OPTION_KEYS = Object.freeze(['requireTls'] as const);

/** `SmtpOutbox` options. */
export const OUTBOX_OPTION_KEYS = Object.freeze(['connection', 'queueName', 'prefix', 'defaultJobOptions'] as const);

/** `SmtpOutbox.send` options. */
export const OUTBOX_SEND_KEYS = Object.freeze(['jobId', 'delay', 'priority'] as const);

/** `SmtpOutbox.sendRaw` options. */
export const OUTBOX_SEND_RAW_KEYS = Object.freeze([...OUTBOX_SEND_KEYS, 'messageId'] as const);

/** `SmtpOutboxWorker` options. */
export const OUTBOX_WORKER_OPTION_KEYS = Object.freeze([
  'connection',
  'queueName',
  'prefix',
  'handler',
  'concurrency',
  'limiter',
  'lockDuration',
  'stalledInterval',
  'maxStalledCount',
  'attachmentRoot',
  'claimReplicas',
] as const);

/** nodemailer's `createTransport` options: every option nodemailer documents for its SMTP, pool, JSON, stream and sendmail transports. */
export const NODEMAILER_TRANSPORT_KEYS = Object.freeze([
  // connection
  'service',
  'url',
  'host',
  'port',
  'secure',
  'auth',
  'authMethod',
  'ignoreTLS',
  'requireTLS',
  'opportunisticTLS',
  'tls',
  'name',
  'localAddress',
  'connectionTimeout',
  'greetingTimeout',
  'socketTimeout',
  'dnsTimeout',
  'lmtp',
  'proxy',
  // pool
  'pool',
  'maxConnections',
  'maxMessages',
  'rateDelta',
  'rateLimit',
  // logging
  'logger',
  'debug',
  'transactionLog',
  'component',
  // message handling (the mailer's)
  'dkim',
  'disableFileAccess',
  'disableUrlAccess',
  'normalizeHeaderKey',
  'attachDataUrls',
  'maxRecipients',
  // other transports
  'jsonTransport',
  'streamTransport',
  'sendmail',
  'buffer',
  'newline',
  'path',
  'args',
  'skipEncoding',
  // smtpwire's own
  'allowInsecureAuth',
] as const);

/** `conform({ domain })` options (the domain scan). */
export const CONFORM_DOMAIN_OPTION_KEYS = Object.freeze([
  'domain',
  'resolver',
  'port',
  'ca',
  'mtaSts',
  'clientName',
  'timeout',
  'hostChecks',
  'addressesPerHost',
  'signal',
] as const);
