import { isNewTable, isOp, nameList, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (name: string, table: string | undefined): RuleHit => ({
  table,
  message: `drop index ${name}${table ? ` on ${table}` : ''}: queries that use it fall back to scans (slow queries, timeouts), and a unique index stops enforcing uniqueness; a plain DROP INDEX also blocks the table while it runs`,
  hint: 'Check the index is unused (pg_stat_user_indexes.idx_scan) and not unique in meaning; drop it with DROP INDEX CONCURRENTLY (postgresql_concurrently=True inside op.get_context().autocommit_block()).',
});

export const dropIndex: Rule = {
  id: 'drop-index',
  category: 'breaking',
  severity: 'error',
  summary: 'Drops an index of an existing table.',
  check(op, ctx) {
    if (isOp(op, 'drop_index')) {
      return isNewTable(ctx, op.table) ? [] : [hit(nameOf(op.params.index_name) ?? '?', op.table)];
    }
    if (op.kind === 'object-drop' && op.object === 'index') return [hit(op.name ?? op.text, undefined)];
    if (op.kind === 'sql' && op.stmt.type === 'DropStmt' && op.stmt.node.removeType === 'OBJECT_INDEX') {
      return ((op.stmt.node.objects as unknown[]) ?? []).map((o) => hit(nameList(o), undefined));
    }
    return [];
  },
};
export default dropIndex;
