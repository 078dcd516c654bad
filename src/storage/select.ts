/**
 * Which stored dump `--dump <id|latest|newest>` means, shared by `restore`, `rehearse` and `dumps get`.
 * `latest` is what on-call means after a bad deploy: the dump taken before the last deploy that
 * migrated, not a dump that a rollback or a restore took of the broken state a minute ago. `newest`
 * is the newest of any kind. Pure.
 */
import { isPreDeploy, provenanceOf } from './provenance.js';
import type { StoredDump } from './target.js';

export interface DumpChoice {
  dump?: StoredDump;
  /** Why nothing was chosen, as a full sentence (what to do next included). */
  problem?: string;
  /** How `latest` was resolved, for the plan ("the dump of run #12, the last deploy that migrated"). */
  reason?: string;
}

export interface SelectOptions {
  /** The dump id of the last run that migrated, from history (when the database is reachable). */
  lastMigratedDumpId?: string | null;
  /** The target's description, for messages. */
  where: string;
}

/** `all` is newest first, as DumpTarget.list() returns it. */
export function selectDump(all: readonly StoredDump[], which: string, opts: SelectOptions): DumpChoice {
  if (which === 'newest') {
    return all[0]
      ? { dump: all[0], reason: 'the newest dump of any kind' }
      : { problem: `no safety dumps in ${opts.where}: nothing to use for --dump newest` };
  }
  if (which !== 'latest') {
    const dump = all.find((d) => d.id === which);
    return dump
      ? { dump }
      : {
          problem: `no dump '${which}' in ${opts.where} (and no local file of that name); list them with \`migration-gate dumps\``,
        };
  }
  const fromHistory = opts.lastMigratedDumpId ? all.find((d) => d.id === opts.lastMigratedDumpId) : undefined;
  if (fromHistory) {
    const runId = provenanceOf(fromHistory).runId;
    return {
      dump: fromHistory,
      reason: `the dump taken before the last deploy that migrated${runId ? ` (run #${runId})` : ''}`,
    };
  }
  const preDeploy = all.find((d) => isPreDeploy(d)) ?? all.find((d) => provenanceOf(d).madeBy === 'run');
  if (preDeploy) {
    const runId = provenanceOf(preDeploy).runId;
    return {
      dump: preDeploy,
      reason: `the newest dump taken before a deploy${runId ? ` (run #${runId})` : ''}`,
    };
  }
  if (all.length === 0)
    return { problem: `no safety dumps in ${opts.where}: nothing to use for --dump latest` };
  return {
    problem: `none of the ${all.length} dump(s) in ${opts.where} records that a deploy (\`migration-gate run\`) took it (dumps made before this version record no maker): pick one by id from \`migration-gate dumps\`, or use --dump newest for the newest of any kind`,
  };
}
