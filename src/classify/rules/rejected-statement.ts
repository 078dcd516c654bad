import { alterCmds, columnInfo, isTrue, relName, tableLabel, type Json } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

const fails = (table: string | undefined, why: string, hint: string): RuleHit => ({
  table,
  message: `fails at deploy: PostgreSQL rejects this statement on ${tableLabel(table)} (${why})`,
  hint,
});

function duplicateAssignments(update: Json): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const t of (update.targetList as Json[] | undefined) ?? []) {
    const r = t.ResTarget as Json | undefined;
    if (!r || r.indirection || typeof r.name !== 'string') continue;
    if (seen.has(r.name)) dup.add(r.name);
    seen.add(r.name);
  }
  return [...dup];
}

function addedTwice(ctx: RuleContext, table: string | undefined, alter: Json): RuleHit[] {
  const seen = new Set<string>();
  const hits: RuleHit[] = [];
  for (const c of alterCmds(alter)) {
    if (c.subtype !== 'AT_AddColumn' || (c as unknown as Json).missing_ok) continue;
    const col = String((c.def?.ColumnDef as Json | undefined)?.colname).toLowerCase();
    if (seen.has(col) || ctx.model.column(table, col)) {
      hits.push(
        fails(
          table,
          `column "${col}" ${seen.has(col) ? 'is added twice' : 'already exists'}`,
          'Add each column once; use ADD COLUMN IF NOT EXISTS only if the column may already be there.',
        ),
      );
    }
    seen.add(col);
  }
  return hits;
}

const PARTITIONED_HINT =
  'Create the index without CONCURRENTLY on the partitioned table with ON ONLY, build each partition index CONCURRENTLY, then ALTER INDEX ... ATTACH PARTITION.';

export const rejectedStatement: Rule = {
  id: 'rejected-statement',
  category: 'breaking',
  severity: 'error',
  summary:
    'A statement PostgreSQL rejects outright (same column assigned twice, column added twice, CONCURRENTLY on a partitioned table).',
  check(op, ctx) {
    if (op.kind === 'op') {
      const col = op.name === 'add_column' ? columnInfo(op.params.column)?.name : undefined;
      if (col && ctx.model.column(op.table, col))
        return [fails(op.table, `column "${col}" already exists`, 'Drop the duplicate add_column.')];
      const concurrently = op.name === 'create_index' && isTrue(op.params.postgresql_concurrently);
      if (concurrently && ctx.model.table(op.table)?.partitioned)
        return [
          fails(
            op.table,
            'CREATE INDEX CONCURRENTLY is not supported on a partitioned table',
            PARTITIONED_HINT,
          ),
        ];
      return [];
    }
    if (op.kind !== 'sql') return [];
    const n = op.stmt.node;
    if (op.stmt.type === 'UpdateStmt') {
      return duplicateAssignments(n).map((c) =>
        fails(
          relName(n.relation),
          `column "${c}" is assigned twice in one UPDATE`,
          'Assign each column once.',
        ),
      );
    }
    if (op.stmt.type === 'AlterTableStmt') return addedTwice(ctx, relName(n.relation), n);
    if (op.stmt.type === 'IndexStmt' && n.concurrent && ctx.model.table(relName(n.relation))?.partitioned)
      return [
        fails(
          relName(n.relation),
          'CREATE INDEX CONCURRENTLY is not supported on a partitioned table',
          PARTITIONED_HINT,
        ),
      ];
    return [];
  },
};
export default rejectedStatement;
