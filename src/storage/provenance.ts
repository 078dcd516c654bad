/**
 * Where a dump came from, read back the same way from every target. The file target keeps camelCase
 * keys in its sidecar, S3 keeps kebab-case keys (HTTP metadata); dumps made before provenance was
 * recorded have neither and fall back to what their name says (see naming.ts). Pure.
 */
import { parseDumpObjectName } from './naming.js';
import { DUMP_MAKERS, type DumpMaker, type DumpMeta, type StoredDump } from './target.js';

export interface DumpProvenance {
  /** null: made before the gate recorded who made a dump. */
  madeBy: DumpMaker | null;
  /** The history run id of the command that made it. */
  runId: number | null;
  /** The database's revisions when the dump was taken: what restoring it brings back. */
  revisions: string[];
  /** Where that command was going (a deploy's heads, a rollback's target). */
  toRevisions: string[];
  service: string | null;
  commit: string | null;
  purpose: string | null;
}

function pick(meta: Partial<Record<string, string>>, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const value = meta[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** "a,b" -> ['a', 'b']; "base" (how S3 metadata writes an empty list) -> []. */
function revisionList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'base') return [];
  return value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
}

export function provenanceOf(dump: Pick<StoredDump, 'id' | 'meta'>): DumpProvenance {
  const meta = dump.meta ?? {};
  const parsed = parseDumpObjectName(dump.id);
  const maker = pick(meta, 'madeBy', 'made-by');
  const runId = Number(pick(meta, 'runId', 'run-id'));
  return {
    madeBy: DUMP_MAKERS.includes(maker as DumpMaker) ? (maker as DumpMaker) : null,
    runId: Number.isSafeInteger(runId) && runId > 0 ? runId : null,
    revisions:
      revisionList(pick(meta, 'revisions', 'fromRevisions', 'from-revisions')) ?? parsed?.fromRevisions ?? [],
    toRevisions: revisionList(pick(meta, 'toRevisions', 'to-revisions')) ?? parsed?.toRevisions ?? [],
    service: pick(meta, 'service') ?? parsed?.service ?? null,
    commit: pick(meta, 'commit') ?? parsed?.commit ?? null,
    purpose: pick(meta, 'purpose') ?? null,
  };
}

const COMMAND_WORD: Record<DumpMaker, string> = { run: 'deploy', rollback: 'rollback', restore: 'restore' };

function revs(list: string[]): string {
  return list.length > 0 ? list.join('+') : 'base';
}

/**
 * The purpose of a dump in words, for `dumps` and the status page:
 *   run:      "before deploy #12: c71d4e9a -> 1a0599fa"
 *   rollback: "before rollback #13: downgrade 1a0599fa -> c71d4e9a"
 *   restore:  "before restore #14 (the database was at 1a0599fa)"
 */
export function dumpPurpose(
  madeBy: DumpMaker,
  runId: number | undefined,
  from: string[],
  to: string[],
): string {
  const what = `before ${COMMAND_WORD[madeBy]}${runId ? ` #${runId}` : ''}`;
  if (madeBy === 'restore') return `${what} (the database was at ${revs(from)})`;
  if (revs(from) === revs(to)) return `${what}: nothing pending (at ${revs(from)})`;
  return `${what}: ${madeBy === 'rollback' ? 'downgrade ' : ''}${revs(from)} -> ${revs(to)}`;
}

/** Provenance as the file sidecar stores it (string values, camelCase keys). */
export function provenanceStrings(meta: DumpMeta): Record<string, string> {
  const out: Record<string, string> = { revisions: meta.fromRevisions.join(',') || 'base' };
  if (meta.madeBy) out.madeBy = meta.madeBy;
  if (meta.runId) out.runId = String(meta.runId);
  if (meta.purpose) out.purpose = meta.purpose;
  return out;
}

/** A pre-deploy dump: taken by `run` before an upgrade that had something to apply. */
export function isPreDeploy(dump: Pick<StoredDump, 'id' | 'meta'>): boolean {
  const p = provenanceOf(dump);
  return p.madeBy === 'run' && revs(p.revisions) !== revs(p.toRevisions);
}
