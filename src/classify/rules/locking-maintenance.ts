import { alterCmds, relName, tableLabel, type Json } from '../facts.js';
import { isReindexConcurrently, isVacuumFull, targetOf } from '../statements.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, what: string, lock: string, hint: string): RuleHit => ({
  table,
  message: `${what} on ${tableLabel(table)}: ${lock} until it finishes, which on a large table is minutes`,
  hint,
});

export const lockingMaintenance: Rule = {
  id: 'locking-maintenance',
  category: 'locking',
  severity: 'warning',
  summary:
    'VACUUM FULL, CLUSTER, plain REINDEX, non-concurrent REFRESH MATERIALIZED VIEW and DETACH PARTITION hold strong locks for their whole run.',
  check(op) {
    if (op.kind !== 'sql') return [];
    const s = op.stmt;
    const table = targetOf(s);
    if (isVacuumFull(s) || s.type === 'ClusterStmt') {
      const what = s.type === 'ClusterStmt' ? 'CLUSTER' : 'VACUUM FULL';
      return [
        hit(
          table,
          what,
          'rewrites the whole table under an ACCESS EXCLUSIVE lock (no reads, no writes)',
          'Use plain VACUUM (in an autocommit_block) to reclaim space for reuse, or pg_repack to compact without the long lock; never in a deploy.',
        ),
      ];
    }
    if (s.type === 'ReindexStmt' && !isReindexConcurrently(s)) {
      return [
        hit(
          table,
          'REINDEX',
          'blocks every write to the table (and reads that use the index)',
          'Use REINDEX ... CONCURRENTLY inside `with op.get_context().autocommit_block():`.',
        ),
      ];
    }
    if (s.type === 'RefreshMatViewStmt' && !s.node.concurrent) {
      return [
        hit(
          relName(s.node.relation),
          'REFRESH MATERIALIZED VIEW',
          'takes an ACCESS EXCLUSIVE lock on the view, so every read of it waits',
          'Use REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view).',
        ),
      ];
    }
    if (s.type === 'AlterTableStmt') {
      const parent = relName(s.node.relation);
      return alterCmds(s.node)
        .filter(
          (c) => c.subtype === 'AT_DetachPartition' && !(c.def?.PartitionCmd as Json | undefined)?.concurrent,
        )
        .map(() =>
          hit(
            parent,
            'DETACH PARTITION',
            'takes an ACCESS EXCLUSIVE lock on the partitioned table (no reads, no writes on any partition)',
            'Use DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) inside `with op.get_context().autocommit_block():`.',
          ),
        );
    }
    return [];
  },
};
export default lockingMaintenance;
