/**
 * Dump names that sort by time and explain themselves, shared by the file and S3 targets:
 *   <service>/20261125T031500Z_<from>_to_<to>_<commit7>.dump
 * The UTC timestamp comes first under the service folder so a plain listing sorts oldest -> newest.
 * `_` separates the fields, so every field is sanitized to [A-Za-z0-9.-] (merge heads joined by `+`).
 */

export interface DumpNameInput {
  service?: string;
  createdAt: Date;
  fromRevisions: string[];
  toRevisions: string[];
  commit?: string;
}

export interface ParsedDumpName {
  service: string;
  createdAt: Date;
  fromRevisions: string[];
  toRevisions: string[];
  commit?: string;
}

export const DUMP_SUFFIX = '.dump';
/** Used for the folder when no service name is known. */
export const DEFAULT_SERVICE = 'default';
/** The "from" field when the database had no revision yet. */
export const BASE_REVISION = 'base';

const MAX_FIELD = 40;

/** Keep only characters that are safe in object keys and file names on every store. */
export function sanitizeNamePart(value: string, max = MAX_FIELD): string {
  const cleaned = value
    .trim()
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, max)
    .replace(/[-.]+$/g, '');
  return cleaned;
}

function revisionsPart(revisions: string[], empty: string): string {
  const parts = revisions.map((r) => sanitizeNamePart(r, 32)).filter((r) => r.length > 0);
  if (parts.length === 0) return empty;
  return parts.sort().join('+').slice(0, 100);
}

/** 2026-11-25T03:15:00.123Z -> 20261125T031500Z */
export function formatUtcStamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TypeError('dump timestamp is not a valid date');
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function parseUtcStamp(stamp: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  // Date.UTC rolls over (month 13 -> next year); only an exact round trip is a real timestamp.
  return formatUtcStamp(date) === stamp ? date : undefined;
}

/** `<service>/<UTC stamp>_<from>_to_<to>[_<commit7>].dump`, relative to the target's root or prefix. */
export function dumpObjectName(input: DumpNameInput): string {
  const service = sanitizeNamePart(input.service ?? '', 63) || DEFAULT_SERVICE;
  const fields = [
    formatUtcStamp(input.createdAt),
    revisionsPart(input.fromRevisions, BASE_REVISION),
    'to',
    revisionsPart(input.toRevisions, BASE_REVISION),
  ];
  const commit = sanitizeNamePart(input.commit ?? '', 7);
  if (commit) fields.push(commit);
  return `${service}/${fields.join('_')}${DUMP_SUFFIX}`;
}

/** Reverse of dumpObjectName; undefined for names it did not make. */
export function parseDumpObjectName(name: string): ParsedDumpName | undefined {
  if (!name.endsWith(DUMP_SUFFIX)) return undefined;
  const slash = name.lastIndexOf('/');
  const service = slash >= 0 ? name.slice(0, slash).split('/').pop() || DEFAULT_SERVICE : DEFAULT_SERVICE;
  const fields = name.slice(slash + 1, -DUMP_SUFFIX.length).split('_');
  if (fields.length < 4 || fields.length > 5 || fields[2] !== 'to') return undefined;
  const createdAt = parseUtcStamp(fields[0]!);
  if (!createdAt) return undefined;
  const revs = (field: string) => (field === BASE_REVISION ? [] : field.split('+').filter(Boolean));
  return {
    service,
    createdAt,
    fromRevisions: revs(fields[1]!),
    toRevisions: revs(fields[3]!),
    ...(fields[4] ? { commit: fields[4] } : {}),
  };
}
