import { alterCmds, columnInfo, isTrue, relName, syncEnumCall, tableLabel, type Json } from '../facts.js';
import type { AlembicOp, Rule, RuleContext, RuleHit } from '../rule.js';
import { enumTypeLabel, readableSync } from './sync-enum-values.js';

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

/**
 * op.sync_enum_values moves only the columns it is given to the new type, then drops the old one:
 * a column of that type it leaves out still depends on the old type, and the DROP TYPE fails.
 */
function syncLeavesColumns(op: AlembicOp, ctx: RuleContext): RuleHit[] {
  const call = syncEnumCall(op);
  if (!readableSync(call)) return [];
  const listed = new Set(call.columns!.map((c) => `${c.table}.${c.column}`.toLowerCase()));
  const left = ctx.model.enumColumns(call.name!).filter((c) => !listed.has(c));
  if (left.length === 0) return [];
  const type = enumTypeLabel(call);
  const table = left[0]!.split('.')[0];
  return [
    fails(
      table,
      `op.sync_enum_values drops the old enum ${type} while ${left.join(', ')} still ${left.length > 1 ? 'use' : 'uses'} it: the call only moves the columns in affected_columns`,
      `Add ${left.map((c) => `TableReference(table_schema="public", table_name="${c.split('.')[0]}", column_name="${c.split('.')[1]}")`).join(', ')} to affected_columns.`,
    ),
  ];
}

export const rejectedStatement: Rule = {
  id: 'rejected-statement',
  category: 'breaking',
  severity: 'error',
  summary:
    'A statement PostgreSQL rejects outright (same column assigned twice, column added twice, CONCURRENTLY on a partitioned table).',
  check(op, ctx) {
    if (op.kind === 'op') {
      if (op.name === 'sync_enum_values') return syncLeavesColumns(op, ctx);
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
