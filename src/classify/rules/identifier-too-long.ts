import { columnInfo, nameOf, str } from '../facts.js';
import type { Operation, Rule, RuleHit } from '../rule.js';

/** NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers (bytes, not characters). */
const MAX = 63;

/** The names an Alembic operation gives to new objects. */
function namesGiven(op: Operation): string[] {
  if (op.kind === 'op') {
    const p = op.params;
    const out = [
      nameOf(p.index_name),
      nameOf(p.constraint_name),
      str(p.new_table_name),
      str(p.new_column_name),
    ];
    if (op.name === 'create_table') out.push(op.table, ...op.rest.map((v) => columnInfo(v)?.name));
    if (op.name === 'add_column') out.push(columnInfo(p.column)?.name);
    return out.filter((n): n is string => n !== undefined);
  }
  // Raw SQL is not checked: PostgreSQL's parser (libpg-query included) truncates names as it reads them.
  return [];
}

export const identifierTooLong: Rule = {
  id: 'identifier-too-long',
  category: 'review',
  severity: 'warning',
  summary: 'A new name longer than 63 bytes: PostgreSQL silently truncates it.',
  check(op) {
    return namesGiven(op)
      .filter((name) => Buffer.byteLength(name, 'utf8') > MAX)
      .map((name): RuleHit => ({
        message: `the name ${name} is ${Buffer.byteLength(name, 'utf8')} bytes long: PostgreSQL keeps only the first ${MAX} (${name.slice(0, MAX)}), so a later migration or the app that uses the full name does not find it, and two long names that share their first ${MAX} bytes collide`,
        hint: `Choose a name of at most ${MAX} bytes (set a naming_convention in the SQLAlchemy MetaData, or pass an explicit shorter name).`,
      }));
  },
};
export default identifierTooLong;
