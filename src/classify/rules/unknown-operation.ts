import { alterCmds, isOp, relName, syncEnumCall } from '../facts.js';
import type { AlembicOp, Rule, RuleContext, RuleHit } from '../rule.js';
import { enumBefore, enumTypeLabel } from './sync-enum-values.js';

/** Statements every other rule understands, or that change no existing data or name. */
export const KNOWN_STATEMENTS = new Set([
  'AlterEnumStmt',
  'AlterTableStmt',
  'AlterDefaultPrivilegesStmt',
  'AlterExtensionStmt',
  'AlterOwnerStmt',
  'AlterSeqStmt',
  'CommentStmt',
  'CompositeTypeStmt',
  'CreateCastStmt',
  'CreateDomainStmt',
  'CreateEnumStmt',
  'CreateExtensionStmt',
  'CreateFunctionStmt',
  'CreatePolicyStmt',
  'CreateRoleStmt',
  'CreateSchemaStmt',
  'CreateSeqStmt',
  'CreateStmt',
  'CreateTableAsStmt',
  'ClusterStmt',
  'RefreshMatViewStmt',
  'ReindexStmt',
  'TransactionStmt',
  'VacuumStmt',
  'CreateTrigStmt',
  'DefineStmt',
  'DeleteStmt',
  'DropStmt',
  'GrantRoleStmt',
  'GrantStmt',
  'IndexStmt',
  'InsertStmt',
  'RenameStmt',
  'SelectStmt',
  'TruncateStmt',
  'UpdateStmt',
  'VariableSetStmt',
  'ViewStmt',
]);

/** ALTER TABLE sub-commands the rules handle, or that neither lose data nor block for long. */
export const KNOWN_ALTER_CMDS = new Set([
  'AT_AddColumn',
  'AT_DropColumn',
  'AT_AlterColumnType',
  'AT_SetNotNull',
  'AT_DropNotNull',
  'AT_ColumnDefault',
  'AT_AddConstraint',
  'AT_DropConstraint',
  'AT_ValidateConstraint',
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_SetStorage',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ChangeOwner',
  'AT_EnableRowSecurity',
  'AT_DisableRowSecurity',
  'AT_ForceRowSecurity',
  'AT_NoForceRowSecurity',
  'AT_EnableTrig',
  'AT_DisableTrig',
  'AT_EnableTrigAll',
  'AT_DisableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrigUser',
  'AT_ReplicaIdentity',
  'AT_SetIdentity',
  'AT_AddIdentity',
  'AT_DetachPartition',
]);

const HINT =
  'Review what it does by hand; if it is safe, add `# migration-gate: allow unknown-operation -- <reason>` to the migration.';

/** op.sync_enum_values the gate cannot read far enough to tell additions from removals. */
function unreadableSync(op: AlembicOp, ctx: RuleContext): RuleHit[] {
  const call = syncEnumCall(op);
  if (call.otherForm) {
    return [
      {
        message:
          "op.sync_enum_values is called with old_values and new_values (alembic-autogenerate-enums' form), which migration-gate does not read, so it cannot tell whether it is safe",
        hint: HINT,
      },
    ];
  }
  const type = enumTypeLabel(call);
  const notLiteral = [
    call.name === undefined ? 'the enum name' : '',
    call.newValues === undefined ? 'new_values' : '',
    call.columns === undefined ? 'affected_columns' : '',
    call.renames === undefined ? 'enum_values_to_rename' : '',
  ].filter(Boolean);
  if (notLiteral.length > 0) {
    return [
      {
        message: `op.sync_enum_values on enum ${type}: ${notLiteral.join(', ')} ${notLiteral.length > 1 ? 'are' : 'is'} not literal, so migration-gate cannot tell which values it removes or which tables it rewrites (it rewrites every affected table under ACCESS EXCLUSIVE)`,
        hint: 'Write the values and the affected columns as literals in the migration (autogenerate does), so they are frozen with it.',
      },
    ];
  }
  if (enumBefore(call, ctx)) return [];
  return [
    {
      message: `op.sync_enum_values on enum ${type}: the values before it are not known (no earlier migration creates the type and downgrade() has no sync_enum_values for it), so migration-gate cannot tell whether it removes a value; a removed value fails the migration on rows that still hold it, and code writing it fails afterwards`,
      hint: `Compare new_values with \`SELECT enum_range(NULL::${type})\` on production; if it only adds values, use ALTER TYPE ... ADD VALUE inside autocommit_block instead; if reviewed, add \`# migration-gate: allow unknown-operation -- <reason>\`.`,
    },
  ];
}

export const unknownOperation: Rule = {
  id: 'unknown-operation',
  category: 'opaque',
  severity: 'error',
  summary: 'An Alembic op, SQLAlchemy construct or SQL statement migration-gate does not know.',
  check(op, ctx) {
    if (isOp(op, 'sync_enum_values')) return unreadableSync(op, ctx);
    if (op.kind === 'opaque' && op.reason === 'unknown-operation') {
      return [
        {
          message: op.why
            ? `${op.detail}: ${op.why}`
            : `${op.detail} is not known to migration-gate, so it cannot tell whether it is safe`,
          hint: op.hint ?? HINT,
        },
      ];
    }
    if (op.kind !== 'sql') return [];
    if (!KNOWN_STATEMENTS.has(op.stmt.type)) {
      return [
        {
          message: `SQL statement ${(op.stmt.type.endsWith('Stmt') ? op.stmt.type.slice(0, -4) : op.stmt.type).toUpperCase()} (${op.stmt.text.slice(0, 60)}) is not known to migration-gate, so it cannot tell whether it is safe`,
          hint: HINT,
        },
      ];
    }
    if (op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      return alterCmds(op.stmt.node)
        .filter((c) => !KNOWN_ALTER_CMDS.has(c.subtype))
        .map((c): RuleHit => ({
          table,
          message: `ALTER TABLE ${table ?? '?'} ${c.subtype.replace('AT_', '')} is not known to migration-gate, so it cannot tell whether it is safe`,
          hint: HINT,
        }));
    }
    return [];
  },
};
export default unknownOperation;
