/** What `dumps` prints: a table for people, a JSON list for scripts. Pure (the clock is passed in). */
import { provenanceOf } from './provenance.js';
import type { DumpMaker, StoredDump } from './target.js';

export interface DumpListing {
  id: string;
  createdAt: string;
  /** null: made before the gate recorded who made a dump. */
  madeBy: DumpMaker | null;
  runId: number | null;
  /** The database's revisions in the dump (what restoring it brings back). */
  revisions: string[];
  toRevisions: string[];
  purpose: string | null;
  service: string | null;
  commit: string | null;
  bytes: number;
  sha256: string | null;
  location: string;
}

export function dumpListing(dump: StoredDump): DumpListing {
  const p = provenanceOf(dump);
  return {
    id: dump.id,
    createdAt: dump.createdAt.toISOString(),
    madeBy: p.madeBy,
    runId: p.runId,
    revisions: p.revisions,
    toRevisions: p.toRevisions,
    purpose: p.purpose,
    service: p.service,
    commit: p.commit,
    bytes: dump.bytes,
    sha256: dump.sha256 ?? null,
    location: dump.location,
  };
}

export function formatAge(ms: number): string {
  if (ms < 0) return 'just now';
  const h = ms / 3_600_000;
  if (h < 1) return `${Math.round(ms / 60_000)}m`;
  return h < 48 ? `${h.toFixed(1)}h` : `${Math.round(h / 24)}d`;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** "run #12" / "rollback #13" / "unknown (made before provenance was recorded)". */
export function makerText(madeBy: DumpMaker | null, runId: number | null): string {
  if (!madeBy) return 'unknown';
  return runId ? `${madeBy} #${runId}` : madeBy;
}

const revs = (list: string[]) => (list.length > 0 ? list.join('+') : 'base');

/** Rows of the `dumps` table, newest first, columns aligned. */
export function dumpsTable(all: readonly StoredDump[], now: Date): string[] {
  const rows = all.map((d) => {
    const l = dumpListing(d);
    return [
      l.id,
      formatAge(now.getTime() - d.createdAt.getTime()),
      makerText(l.madeBy, l.runId),
      revs(l.revisions),
      formatSize(l.bytes),
      l.purpose ?? '',
    ];
  });
  const header = ['ID', 'AGE', 'MADE BY', 'REVISIONS', 'SIZE', 'PURPOSE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [line(header), ...rows.map(line)];
  if (all.some((d) => provenanceOf(d).madeBy === null)) {
    lines.push(
      'Made by "unknown": taken before the gate recorded provenance; its revisions come from its name.',
    );
  }
  return lines;
}
