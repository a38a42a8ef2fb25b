/**
 * Well-known SMTP services for nodemailer's `service` option: submission host, port and TLS mode
 * of common providers, as each documents them. Data only; `wellKnown()` looks a name, alias or
 * mail domain up the way nodemailer does (case and punctuation ignored, `user@domain` → domain).
 */

export interface WellKnownService {
  host: string;
  port: number;
  /** Implicit TLS (port 465 style); false/absent: STARTTLS. */
  secure?: boolean;
  authMethod?: string;
}

interface Entry extends WellKnownService {
  aliases?: readonly string[];
  domains?: readonly string[];
}

const TLS465 = { port: 465, secure: true } as const;
const STARTTLS587 = { port: 587, secure: false } as const;

const SES_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-north-1',
  'eu-south-1',
  'ap-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-southeast-1',
  'ap-southeast-2',
  'sa-east-1',
  'me-south-1',
  'af-south-1',
] as const;

const SERVICES: Record<string, Entry> = {
  '126': { host: 'smtp.126.com', ...TLS465 },
  '163': { host: 'smtp.163.com', ...TLS465 },
  '1und1': { host: 'smtp.1und1.de', ...TLS465, authMethod: 'LOGIN' },
  AOL: { host: 'smtp.aol.com', port: 587, domains: ['aol.com'] },
  Brevo: { host: 'smtp-relay.brevo.com', port: 587, aliases: ['Sendinblue', 'SendinBlue'] },
  DebugMail: { host: 'debugmail.io', port: 25 },
  DynectEmail: { host: 'smtp.dynect.net', port: 25, aliases: ['Dynect'] },
  Ethereal: { host: 'smtp.ethereal.email', port: 587, aliases: ['ethereal.email'] },
  Fastmail: { host: 'smtp.fastmail.com', ...TLS465, domains: ['fastmail.fm', 'fastmail.com'] },
  'Forward Email': { host: 'smtp.forwardemail.net', ...TLS465, aliases: ['FE', 'ForwardEmail'] },
  GandiMail: { host: 'mail.gandi.net', port: 587, aliases: ['Gandi', 'Gandi Mail'] },
  Gmail: { host: 'smtp.gmail.com', ...TLS465, aliases: ['Google Mail'], domains: ['gmail.com', 'googlemail.com'] },
  GMX: { host: 'mail.gmx.com', ...STARTTLS587, domains: ['gmx.com', 'gmx.net', 'gmx.de'] },
  Godaddy: { host: 'smtpout.secureserver.net', port: 25 },
  GodaddyAsia: { host: 'smtp.asia.secureserver.net', port: 25 },
  GodaddyEurope: { host: 'smtp.europe.secureserver.net', port: 25 },
  Hotmail: {
    host: 'smtp-mail.outlook.com',
    port: 587,
    aliases: ['Outlook', 'Outlook.com', 'Hotmail.com'],
    domains: ['hotmail.com', 'outlook.com'],
  },
  iCloud: { host: 'smtp.mail.me.com', port: 587, aliases: ['Me', 'Mac'], domains: ['me.com', 'mac.com'] },
  Infomaniak: { host: 'mail.infomaniak.com', port: 587, domains: ['ik.me', 'ikmail.com', 'etik.com'] },
  'Mail.ru': { host: 'smtp.mail.ru', ...TLS465, domains: ['mail.ru'] },
  Mailcatch: { host: 'sandbox-smtp.mailcatch.app', port: 2525, aliases: ['Mailcatch.app'] },
  Maildev: { host: '127.0.0.1', port: 1025 },
  Mailgun: { host: 'smtp.mailgun.org', ...TLS465 },
  Mailjet: { host: 'in.mailjet.com', port: 587 },
  Mailosaur: { host: 'mailosaur.io', port: 25 },
  Mailtrap: { host: 'live.smtp.mailtrap.io', port: 587 },
  Mandrill: { host: 'smtp.mandrillapp.com', port: 587, aliases: ['Mandrill'] },
  Naver: { host: 'smtp.naver.com', port: 587 },
  OpenMailBox: { host: 'smtp.openmailbox.org', ...TLS465, aliases: ['OMB', 'openmailbox.org'] },
  Outlook365: { host: 'smtp.office365.com', port: 587, secure: false, aliases: ['Office365'] },
  OhMySMTP: { host: 'smtp.ohmysmtp.com', port: 587, secure: false },
  Postmark: { host: 'smtp.postmarkapp.com', port: 2525, aliases: ['PostmarkApp'] },
  Proton: {
    host: 'smtp.protonmail.ch',
    port: 587,
    aliases: ['ProtonMail', 'Proton.me'],
    domains: ['proton.me', 'protonmail.com', 'pm.me'],
  },
  'qiye.aliyun': { host: 'smtp.mxhichina.com', port: 465, secure: true },
  QQ: { host: 'smtp.qq.com', ...TLS465, domains: ['qq.com'] },
  QQex: { host: 'smtp.exmail.qq.com', ...TLS465, domains: ['exmail.qq.com'] },
  Resend: { host: 'smtp.resend.com', ...TLS465 },
  SendCloud: { host: 'smtp.sendcloud.net', port: 2525 },
  SendGrid: { host: 'smtp.sendgrid.net', port: 587 },
  SendPulse: { host: 'smtp-pulse.com', ...TLS465 },
  SES: { host: 'email-smtp.us-east-1.amazonaws.com', ...TLS465 },
  Seznam: {
    host: 'smtp.seznam.cz',
    ...TLS465,
    aliases: ['Seznam Email'],
    domains: ['seznam.cz', 'email.cz', 'post.cz', 'spoluzaci.cz'],
  },
  SMTP2GO: { host: 'mail.smtp2go.com', port: 2525 },
  Sparkpost: { host: 'smtp.sparkpostmail.com', port: 587, secure: false, aliases: ['SparkPost', 'SparkPost Mail'] },
  Tipimail: { host: 'smtp.tipimail.com', port: 587 },
  Yahoo: { host: 'smtp.mail.yahoo.com', ...TLS465, domains: ['yahoo.com'] },
  Yandex: { host: 'smtp.yandex.ru', ...TLS465, domains: ['yandex.ru'] },
  Zoho: { host: 'smtp.zoho.com', ...TLS465, authMethod: 'LOGIN' },
  ZohoEU: { host: 'smtp.zoho.eu', ...TLS465, authMethod: 'LOGIN' },
};

// Amazon SES: one submission endpoint per region (`service: 'SES-EU-WEST-1'`).
for (const region of SES_REGIONS) {
  SERVICES[`SES-${region.toUpperCase()}`] = { host: `email-smtp.${region}.amazonaws.com`, ...TLS465 };
}

const normalize = (key: string): string => key.replace(/[^a-zA-Z0-9.-]/g, '').toLowerCase();

const TABLE = new Map<string, WellKnownService>();
for (const [name, entry] of Object.entries(SERVICES)) {
  const { aliases = [], domains = [], ...service } = entry;
  const value = Object.freeze(service);
  for (const key of [name, ...aliases, ...domains]) TABLE.set(normalize(key), value);
}

/** The settings of a well-known service by name, alias or mail domain (`'gmail'`, `'me@gmail.com'`), or false. */
export function wellKnown(name: string): WellKnownService | false {
  return TABLE.get(normalize(String(name).split('@').pop() ?? '')) ?? false;
}

/** Every name the table knows (normalised), for "did you mean". */
export function wellKnownNames(): string[] {
  return [...TABLE.keys()];
}
