import { nameList } from '../facts.js';
import type { Rule } from '../rule.js';

export const alterEnumRenameValue: Rule = {
  id: 'alter-enum-rename-value',
  category: 'breaking',
  severity: 'error',
  summary: 'ALTER TYPE ... RENAME VALUE: code still writing the old label fails.',
  check(op) {
    if (op.kind !== 'sql' || op.stmt.type !== 'AlterEnumStmt' || !op.stmt.node.oldVal) return [];
    const type = nameList(op.stmt.node.typeName);
    return [
      {
        message: `rename value '${String(op.stmt.node.oldVal)}' of enum ${type} to '${String(op.stmt.node.newVal)}': code still reading or writing '${String(op.stmt.node.oldVal)}' fails as soon as this commits`,
        hint: 'Add the new value (ALTER TYPE ... ADD VALUE), deploy code that accepts both, migrate the rows, then stop using the old value; PostgreSQL cannot drop enum values, so keep the old one.',
      },
    ];
  },
};
export default alterEnumRenameValue;
