/**
 * What `restore` says before it acts: which dump, who made it and why, its revisions, and how that
 * compares with the database now and with the code's heads (a dump ahead of the code is called out:
 * the app would run on a schema it does not know). Pure: the caller passes everything in.
 */
import type { RunSourceDump } from '../db/history.js';
import { formatSize, makerText } from '../storage/listing.js';
import { provenanceOf } from '../storage/provenance.js';
import type { StoredDump } from '../storage/target.js';

/** What the plan needs of the revision graph (RevisionGraph implements it). */
export interface GraphView {
  has(rev: string): boolean;
  isAncestor(a: string, b: string): boolean;
}

export type Relation = 'same' | 'behind' | 'ahead' | 'diverged' | 'unknown';

const key = (revs: readonly string[]) => [...revs].sort().join(',');

/** Where revisions `a` stand relative to `b` in the graph (`[]` is base, below everything). */
export function relation(a: readonly string[], b: readonly string[], graph: GraphView): Relation {
  if (key(a) === key(b)) return 'same';
  if ([...a, ...b].some((r) => !graph.has(r))) return 'unknown';
  const atOrBelow = (x: string, ys: readonly string[]) => ys.some((y) => y === x || graph.isAncestor(x, y));
  if (a.every((x) => atOrBelow(x, b))) return 'behind';
  if (b.every((y) => atOrBelow(y, a))) return 'ahead';
  return 'diverged';
}

const revs = (list: readonly string[]) => (list.length > 0 ? list.join(', ') : 'base');

export interface RestoreSource {
  kind: 'stored' | 'file' | 'fresh';
  description: string;
  bytes: number;
  stored?: StoredDump;
}

/** The history's record of what was restored (column source_dump). */
export function sourceDumpRecord(source: RestoreSource): RunSourceDump {
  if (!source.stored) {
    return {
      id: source.description,
      location: null,
      madeBy: null,
      runId: null,
      revisions: null,
      purpose: null,
      createdAt: null,
    };
  }
  const p = provenanceOf(source.stored);
  return {
    id: source.stored.id,
    location: source.stored.location,
    madeBy: p.madeBy,
    runId: p.runId,
    revisions: p.revisions,
    purpose: p.purpose,
    createdAt: source.stored.createdAt.toISOString(),
  };
}

export interface RestorePlanInput {
  source: RestoreSource;
  /** How `latest` / `newest` was resolved. */
  reason?: string;
  tocEntries: number;
  /** The database's revisions now. */
  current: string[];
  /** The code's heads and graph; `codeProblem` says why they are unknown. */
  code?: { heads: string[]; graph: GraphView };
  codeProblem?: string;
  into: string;
  historySchema: string;
}

function madeByLine(source: RestoreSource): string {
  if (!source.stored) return 'a local file: it records no provenance';
  const p = provenanceOf(source.stored);
  if (!p.madeBy) return 'unknown: taken before the gate recorded who made a dump';
  return `${makerText(p.madeBy, p.runId)}${p.purpose ? `, ${p.purpose}` : ''}`;
}

const VS_DATABASE: Record<Relation, (db: string) => string> = {
  same: (db) => `at ${db}, the same revision as the dump: only the data goes back`,
  behind: (db) =>
    `at ${db}, ahead of the dump: restoring undoes the schema changes made since, and every write since the dump is lost`,
  ahead: (db) => `at ${db}, behind the dump: restoring moves the schema forward`,
  diverged: (db) => `at ${db}, on another branch than the dump`,
  unknown: (db) => `at ${db} (not comparable with the dump in this code's migrations)`,
};

function codeLine(dumpRevs: string[], input: RestorePlanInput): string {
  if (!input.code)
    return `unknown (${input.codeProblem ?? 'no alembic.ini'}): the dump cannot be compared with the code`;
  const heads = revs(input.code.heads);
  const rel = relation(dumpRevs, input.code.heads, input.code.graph);
  switch (rel) {
    case 'same':
      return `${heads}: the dump matches the code`;
    case 'behind':
      return `${heads}: the dump is behind the code's head; the next deploy upgrades it again`;
    case 'diverged':
      return `${heads}: the dump is on another branch than the code's head`;
    default: {
      const notInCode = dumpRevs.filter((r) => !input.code!.graph.has(r));
      const why =
        notInCode.length > 0
          ? `${revs(notInCode)} is not in this code's migrations`
          : "it is above the code's head";
      return `${heads}: WARNING, the dump is AHEAD OF THE CODE (${why}): the app would run on a schema newer than it knows, and the next deploy sees a code rollback. For the state before the last deploy, restore that dump instead (--dump latest).`;
    }
  }
}

/** The plan, one line each; printed whether or not --yes was given. */
export function restorePlanLines(input: RestorePlanInput): string[] {
  const { source } = input;
  const dumpRevs = source.stored ? provenanceOf(source.stored).revisions : undefined;
  const lines = [
    'Restore plan:',
    `  dump:     ${source.description}, ${formatSize(source.bytes)}, ${input.tocEntries} archive entries`,
  ];
  if (input.reason) lines.push(`  chosen:   ${input.reason}`);
  lines.push(`  made by:  ${madeByLine(source)}`);
  if (dumpRevs === undefined) {
    lines.push(
      `  dump revision: unknown (a local file records none; \`pg_restore --list\` shows what it holds)`,
    );
    lines.push(`  database now:  ${revs(input.current)}`);
    lines.push(
      `  code's head:   ${input.code ? revs(input.code.heads) : `unknown (${input.codeProblem ?? 'no alembic.ini'})`}`,
    );
  } else {
    lines.push(`  dump revision: ${revs(dumpRevs)}`);
    const rel = input.code
      ? relation(dumpRevs, input.current, input.code.graph)
      : key(dumpRevs) === key(input.current)
        ? 'same'
        : 'unknown';
    lines.push(`  database now:  ${VS_DATABASE[rel](revs(input.current))}`);
    lines.push(`  code's head:   ${codeLine(dumpRevs, input)}`);
  }
  lines.push(`  into:     ${input.into}`);
  lines.push(
    `  how: a safety dump of the current state first, then one transaction: drop what the dump does not contain, pg_restore --clean --if-exists --no-owner (the ${input.historySchema} history is kept)`,
  );
  return lines;
}
