import { nameList, isOp, show } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

/** DROP statements other rules own (tables, indexes) or that lose nothing. */
const NOT_HERE = new Set(['OBJECT_TABLE', 'OBJECT_INDEX']);

const hit = (what: string): RuleHit => ({
  message: `drop ${what}: the object (and anything depending on it, with CASCADE) is gone, and code or columns using it fail`,
  hint: 'Make sure nothing uses it any more (deployed code, columns of that type, views, defaults) in an earlier release, then drop it; recreate it in downgrade().',
});

export const dropObject: Rule = {
  id: 'drop-object',
  category: 'data-loss',
  severity: 'error',
  summary: 'Drops a schema, type, sequence, view, function, extension, trigger or other object.',
  check(op) {
    if (op.kind === 'sql' && op.stmt.type === 'DropStmt') {
      const type = String(op.stmt.node.removeType ?? 'OBJECT');
      if (NOT_HERE.has(type)) return [];
      const kind = type.replace('OBJECT_', '').toLowerCase().replaceAll('_', ' ');
      const objects = (op.stmt.node.objects as unknown[]) ?? [];
      return objects.map((o) => {
        return hit(`${kind} ${nameList(o)}${op.stmt.node.behavior === 'DROP_CASCADE' ? ' CASCADE' : ''}`);
      });
    }
    if (op.kind === 'object-drop' && (op.object === 'type' || op.object === 'sequence')) {
      return [hit(`${op.object} ${op.name ?? op.text}`)];
    }
    if (isOp(op, 'drop_sequence', 'drop_entity')) {
      return [
        hit(
          `${op.name === 'drop_sequence' ? 'sequence' : 'entity'} ${show(op.params.sequence ?? op.params.entity)}`,
        ),
      ];
    }
    return [];
  },
};
export default dropObject;
