/**
 * The tables the pending migrations act on, as far as the parsed operations name them (literal table
 * names of op.* calls, the relation of a parsed SQL statement). Used to find who holds locks on them.
 * Pure: works on the operations the classifier already extracted.
 */
import { bodyOf } from '../alembic/packed.js';
import type { Operation } from '../classify/rule.js';
import type { MigrationScript } from '../types.js';

function sqlRelation(node: Record<string, unknown>): string | undefined {
  const rel = node.relation as { relname?: unknown; schemaname?: unknown } | undefined;
  if (typeof rel?.relname !== 'string') return undefined;
  return typeof rel.schemaname === 'string' ? `${rel.schemaname}.${rel.relname}` : rel.relname;
}

function tableOfOp(op: Operation): string | undefined {
  if (op.kind === 'op') return op.table;
  if (op.kind === 'sql') return sqlRelation(op.stmt.node);
  return undefined;
}

export function touchedTables(scripts: MigrationScript[]): string[] {
  const out = new Set<string>();
  for (const s of scripts) {
    // The operations the classifier extracted (decide loaded the pending scripts' bodies).
    for (const op of bodyOf(s)?.upgrade ?? []) {
      const t = tableOfOp(op);
      if (t) out.add(t.toLowerCase());
    }
  }
  return [...out].sort();
}
