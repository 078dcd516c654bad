/**
 * Dump retention: a pure selection (unit-tested) and a thin wrapper that deletes through a DumpTarget.
 * A dump is kept when it satisfies either rule that is set (among the newest `keepLast` of its service,
 * or younger than `keepDays`). Never removed: the newest dump of each service, the dump just stored,
 * and the newest pre-deploy dump of each service (the way back from the current deploy), however many
 * rollback or restore dumps came after it.
 */
import { isPreDeploy, provenanceOf } from './provenance.js';
import type { DumpTarget, StoredDump } from './target.js';

export interface RetentionPolicy {
  keepLast?: number;
  keepDays?: number;
}

export interface PruneResult {
  removed: StoredDump[];
  kept: StoredDump[];
  /** Deletions that failed; pruning is housekeeping, so the caller decides whether to warn or fail. */
  failed: { dump: StoredDump; error: string }[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Dumps of one service share a folder (see naming.ts); retention counts each folder separately. */
function groupOf(dump: StoredDump): string {
  const slash = dump.id.lastIndexOf('/');
  return slash >= 0 ? dump.id.slice(0, slash) : '';
}

/** The dumps to delete under `policy`, oldest first. Pure: no I/O, no clock. */
export function selectForPruning(
  dumps: readonly StoredDump[],
  policy: RetentionPolicy,
  now: Date,
  protectId?: string,
): StoredDump[] {
  const { keepLast, keepDays } = policy;
  if (keepLast === undefined && keepDays === undefined) return [];

  const groups = new Map<string, StoredDump[]>();
  for (const dump of dumps) {
    const list = groups.get(groupOf(dump)) ?? [];
    list.push(dump);
    groups.set(groupOf(dump), list);
  }

  const doomed: StoredDump[] = [];
  for (const list of groups.values()) {
    const newestFirst = [...list].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    const preDeploy =
      newestFirst.find((d) => isPreDeploy(d)) ?? newestFirst.find((d) => provenanceOf(d).madeBy === 'run');
    newestFirst.forEach((dump, index) => {
      if (index === 0 || dump.id === protectId || dump === preDeploy) return;
      const keptByCount = keepLast !== undefined && index < keepLast;
      const keptByAge =
        keepDays !== undefined && now.getTime() - dump.createdAt.getTime() < keepDays * DAY_MS;
      if (!keptByCount && !keptByAge) doomed.push(dump);
    });
  }
  return doomed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** List the target, delete what the policy does not keep. Never throws for a failed single delete. */
export async function pruneDumps(
  target: DumpTarget,
  options: RetentionPolicy & { now: Date },
  justStoredId?: string,
): Promise<PruneResult> {
  const dumps = await target.list();
  const doomed = selectForPruning(dumps, options, options.now, justStoredId);
  const doomedIds = new Set(doomed.map((d) => d.id));
  const result: PruneResult = { removed: [], kept: dumps.filter((d) => !doomedIds.has(d.id)), failed: [] };
  for (const dump of doomed) {
    try {
      await target.remove(dump.id);
      result.removed.push(dump);
    } catch (error) {
      result.failed.push({ dump, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}
