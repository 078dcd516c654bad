/** Every rule, in report order (data loss first, review last), and lookup by id. */
import type { Rule } from './rule.js';
import { ruleDocPath } from './rule.js';
import { addCheckConstraint } from './rules/add-check-constraint.js';
import { addColumnNotNullNoDefault } from './rules/add-column-not-null-no-default.js';
import { addForeignKey } from './rules/add-foreign-key.js';
import { addUniqueConstraint } from './rules/add-unique-constraint.js';
import { alterColumnType } from './rules/alter-column-type.js';
import { alterEnumRenameValue } from './rules/alter-enum-rename-value.js';
import { createIndexConcurrentlyInTransaction } from './rules/create-index-concurrently-in-transaction.js';
import { createIndexNonConcurrent } from './rules/create-index-non-concurrent.js';
import { deleteRows } from './rules/delete-rows.js';
import { dropColumn } from './rules/drop-column.js';
import { dropConstraint } from './rules/drop-constraint.js';
import { dropDefault } from './rules/drop-default.js';
import { dropIndex } from './rules/drop-index.js';
import { dropObject } from './rules/drop-object.js';
import { dropTable } from './rules/drop-table.js';
import { dynamicSql } from './rules/dynamic-sql.js';
import { externalCall } from './rules/external-call.js';
import { identifierTooLong } from './rules/identifier-too-long.js';
import { invalidAllow } from './rules/invalid-allow.js';
import { lockingMaintenance } from './rules/locking-maintenance.js';
import { multiStatementExecute } from './rules/multi-statement-execute.js';
import { nonTransactionalStatement } from './rules/non-transactional-statement.js';
import { primaryKeyNullable } from './rules/primary-key-nullable.js';
import { rejectedStatement } from './rules/rejected-statement.js';
import { setNotNullChecked } from './rules/set-not-null-checked.js';
import { sideEffects } from './rules/side-effects.js';
import { transactionControl } from './rules/transaction-control.js';
import { validateInSameTransaction } from './rules/validate-in-same-transaction.js';
import { renameColumn } from './rules/rename-column.js';
import { renameObject } from './rules/rename-object.js';
import { renameTable } from './rules/rename-table.js';
import { setNotNull } from './rules/set-not-null.js';
import { syncEnumValues } from './rules/sync-enum-values.js';
import { syncEnumValuesRemoveValue } from './rules/sync-enum-values-remove-value.js';
import { transactionPerMigration } from './rules/transaction-per-migration.js';
import { tooLargeToAnalyse } from './rules/too-large-to-analyse.js';
import { truncate } from './rules/truncate.js';
import { unknownAllowRule } from './rules/unknown-allow-rule.js';
import { unknownOperation } from './rules/unknown-operation.js';
import { unparsableSql } from './rules/unparsable-sql.js';
import { unusedAllow } from './rules/unused-allow.js';
import { updateRows } from './rules/update-rows.js';
import { volatileDefault } from './rules/volatile-default.js';

export const RULES: readonly Rule[] = [
  // data-loss
  dropTable,
  dropColumn,
  truncate,
  deleteRows,
  updateRows,
  alterColumnType,
  dropObject,
  // breaking
  renameTable,
  renameColumn,
  renameObject,
  setNotNull,
  addColumnNotNullNoDefault,
  dropConstraint,
  dropIndex,
  alterEnumRenameValue,
  syncEnumValuesRemoveValue,
  createIndexConcurrentlyInTransaction,
  multiStatementExecute,
  nonTransactionalStatement,
  transactionControl,
  rejectedStatement,
  // locking
  createIndexNonConcurrent,
  addForeignKey,
  addCheckConstraint,
  addUniqueConstraint,
  volatileDefault,
  validateInSameTransaction,
  primaryKeyNullable,
  lockingMaintenance,
  syncEnumValues,
  // opaque
  dynamicSql,
  externalCall,
  unparsableSql,
  unknownOperation,
  sideEffects,
  tooLargeToAnalyse,
  // review
  setNotNullChecked,
  dropDefault,
  unknownAllowRule,
  unusedAllow,
  invalidAllow,
  transactionPerMigration,
  identifierTooLong,
];

const BY_ID = new Map(RULES.map((r) => [r.id, r]));

export function ruleById(id: string): Rule | undefined {
  return BY_ID.get(id);
}

/** `docs/rules/<id>.md` for a known rule, else undefined (reports link it). */
export function ruleDocs(id: string): string | undefined {
  return BY_ID.has(id) ? ruleDocPath(id) : undefined;
}
