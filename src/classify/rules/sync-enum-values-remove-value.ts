import { isOp, syncEnumCall } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';
import { enumBefore, enumChange, enumTypeLabel, quoted, readableSync } from './sync-enum-values.js';

export const syncEnumValuesRemoveValue: Rule = {
  id: 'sync-enum-values-remove-value',
  category: 'breaking',
  severity: 'error',
  summary:
    'op.sync_enum_values removes or renames an enum value: rows holding it fail the migration, code writing it fails after.',
  check(op, ctx) {
    if (!isOp(op, 'sync_enum_values')) return [];
    const call = syncEnumCall(op);
    if (!readableSync(call)) return [];
    const before = enumBefore(call, ctx);
    if (!before) return [];
    const type = enumTypeLabel(call);
    const { removed, renamed } = enumChange(before, call);
    const columns = call.columns!.map((c) => `${c.table}.${c.column}`);
    const hits: RuleHit[] = [];
    if (removed.length > 0) {
      const rows =
        columns.length > 0
          ? `the migration fails at deploy if a row of ${columns.join(', ')} still holds ${removed.length > 1 ? 'one of them' : 'it'} (the cast to the new type rejects the value), and`
          : '';
      hits.push({
        message: `op.sync_enum_values on enum ${type} removes ${quoted(removed)}: ${rows}${rows ? ' ' : ''}code still writing ${quoted(removed)} fails once it commits`,
        hint: `Deploy code that stops writing ${quoted(removed)} first, move the rows that hold it (UPDATE ... SET <column> = '<another value>' WHERE <column> = '${removed[0]}') in a migration, then remove it; or keep the value in the type.`,
      });
    }
    if (renamed.length > 0) {
      const pairs = renamed.map(([a, b]) => `'${a}' to '${b}'`).join(', ');
      hits.push({
        message: `op.sync_enum_values on enum ${type} renames ${pairs}: code still reading or writing ${quoted(renamed.map(([a]) => a))} fails as soon as this commits`,
        hint: `Add the new value first (ALTER TYPE ${type} ADD VALUE, inside autocommit_block), deploy code that accepts both, migrate the rows, and only then drop the old value from the code.`,
      });
    }
    return hits;
  },
};
export default syncEnumValuesRemoveValue;
