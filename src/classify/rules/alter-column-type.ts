import { alterCmds, isNewTable, isOp, relName, show, str, tableLabel, typeNameText } from '../facts.js';
import type { Rule, RuleHit, Value } from '../rule.js';

type Kind = 'varchar' | 'text' | 'numeric' | 'other';
const KINDS: Record<string, Kind> = {
  string: 'varchar',
  varchar: 'varchar',
  unicode: 'varchar',
  text: 'text',
  unicodetext: 'text',
  numeric: 'numeric',
  decimal: 'numeric',
};

function describe(v: Value | undefined): { kind: Kind; args: (number | undefined)[] } | undefined {
  if (!v) return undefined;
  const name = v.kind === 'call' ? v.fn : v.kind === 'name' ? (v.name.split('.').pop() ?? '') : undefined;
  if (name === undefined) return undefined;
  const kind = KINDS[name.toLowerCase()] ?? 'other';
  const num = (x: Value | undefined) => (x?.kind === 'num' ? x.value : undefined);
  const args =
    v.kind === 'call'
      ? kind === 'varchar'
        ? [num(v.args[0] ?? v.kwargs.length)]
        : [num(v.args[0] ?? v.kwargs.precision), num(v.args[1] ?? v.kwargs.scale)]
      : [];
  return { kind, args };
}

/** Changes PostgreSQL makes without a rewrite and without losing data. */
export function isSafeTypeChange(from: Value | undefined, to: Value | undefined): boolean {
  const a = describe(from);
  const b = describe(to);
  if (!a || !b) return false;
  if (show(from) === show(to)) return true;
  if (a.kind === 'varchar' && b.kind === 'text') return true;
  if (a.kind === 'varchar' && b.kind === 'varchar') {
    const [n] = a.args;
    const [m] = b.args;
    return m === undefined || (n !== undefined && m >= n);
  }
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    const [p, s] = a.args;
    const [p2, s2] = b.args;
    if (p2 === undefined) return true;
    return p !== undefined && p2 >= p && (s ?? 0) === (s2 ?? 0);
  }
  return false;
}

const HINT =
  'Add a new column of the new type, backfill it in batches, switch the code over, then drop the old column in a later release. If the change is binary-compatible (varchar(n) -> varchar(m > n) or text), pass existing_type= so migration-gate can see that, or allow it with a reason.';

export const alterColumnType: Rule = {
  id: 'alter-column-type',
  category: 'data-loss',
  severity: 'error',
  summary: 'Changes a column type in a way that rewrites the table or can lose data.',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.type_ && op.params.type_.kind !== 'none') {
      if (isNewTable(ctx, op.table)) return [];
      const from = op.params.existing_type;
      const to = op.params.type_;
      if (isSafeTypeChange(from, to)) return [];
      const col = `${tableLabel(op.table)}.${str(op.params.column_name) ?? '?'}`;
      const why = from
        ? `${show(from)} -> ${show(to)} rewrites the table under an ACCESS EXCLUSIVE lock, and values that do not fit the new type fail or lose precision`
        : `the old type is not given (existing_type=), so this may rewrite the table under an ACCESS EXCLUSIVE lock and lose data that does not fit ${show(to)}`;
      return [{ table: op.table, message: `change type of ${col}: ${why}`, hint: HINT }];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_AlterColumnType')
        .map((c): RuleHit => {
          const def = (c.def?.ColumnDef ?? {}) as Record<string, unknown>;
          const to = typeNameText(def.typeName as Record<string, unknown> | undefined);
          const using = def.raw_default ? ' with USING (every row is recomputed)' : '';
          return {
            table,
            message: `change type of ${tableLabel(table)}.${c.name ?? '?'} to ${to}${using}: unless the change is binary-compatible PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock, and values that do not convert fail or lose precision`,
            hint: HINT,
          };
        });
    }
    return [];
  },
};
export default alterColumnType;
