/** `conform({ domain })`: the public names of the domain scan. */
export { conformDomain } from './domain.js';
export { formatDomainJunit, formatDomainText } from './report.js';
export { formatDomainHtml } from './report-html.js';
export type { ConformDomainOptions, ConformDomainReport, DomainFinding, DomainGroup, DomainMxHost } from './types.js';
