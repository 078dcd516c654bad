import { nameList, relName } from '../facts.js';
import type { Rule } from '../rule.js';

/** Renames other rules own, or that running code does not refer to by name. */
const NOT_HERE = new Set([
  'OBJECT_TABLE',
  'OBJECT_COLUMN',
  'OBJECT_INDEX',
  'OBJECT_TABCONSTRAINT',
  'OBJECT_TRIGGER',
]);

export const renameObject: Rule = {
  id: 'rename-object',
  category: 'breaking',
  severity: 'error',
  summary: 'Renames a view, type, schema, sequence or function that code refers to by name.',
  check(op) {
    if (op.kind !== 'sql' || op.stmt.type !== 'RenameStmt') return [];
    const type = String(op.stmt.node.renameType);
    if (NOT_HERE.has(type)) return [];
    const kind = type.replace('OBJECT_', '').toLowerCase();
    const name = relName(op.stmt.node.relation) ?? nameList(op.stmt.node.object);
    return [
      {
        message: `rename ${kind} ${name} to ${String(op.stmt.node.newname)}: code and SQL using the old name fail as soon as this commits`,
        hint: 'Create the object under the new name next to the old one, move the code over, then drop the old name in a later release.',
      },
    ];
  },
};
export default renameObject;
