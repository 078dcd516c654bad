/** What PostgreSQL statements need that the rules share: which refuse a transaction block, and why. */
import { alterCmds, nameList, relName, type Json } from './facts.js';
import type { SqlStatement } from './sql.js';

const hasOption = (n: Json, name: string): boolean =>
  ((n.params as Json[] | undefined) ?? (n.options as Json[] | undefined) ?? []).some(
    (o) => (o.DefElem as Json | undefined)?.defname === name,
  );

export const isVacuum = (s: SqlStatement): boolean => s.type === 'VacuumStmt' && s.node.is_vacuumcmd === true;
export const isVacuumFull = (s: SqlStatement): boolean => isVacuum(s) && hasOption(s.node, 'full');
export const isReindexConcurrently = (s: SqlStatement): boolean =>
  s.type === 'ReindexStmt' && hasOption(s.node, 'concurrently');

/** The relation a maintenance statement names, for messages and table sizes. */
export function targetOf(s: SqlStatement): string | undefined {
  if (s.type === 'VacuumStmt') {
    const rels = (s.node.rels as Json[] | undefined) ?? [];
    return relName((rels[0]?.VacuumRelation as Json | undefined)?.relation);
  }
  if (s.type === 'ReindexStmt')
    return relName(s.node.relation) ?? (typeof s.node.name === 'string' ? s.node.name : undefined);
  return relName(s.node.relation);
}

/**
 * What PostgreSQL refuses inside a transaction block (Alembic's, or the implicit one of a
 * multi-statement string), as a short description; undefined when it runs anywhere.
 */
export function noTransactionBlock(s: SqlStatement): string | undefined {
  const n = s.node;
  if (s.type === 'IndexStmt' && n.concurrent) return 'CREATE INDEX CONCURRENTLY';
  if (s.type === 'DropStmt' && n.concurrent) return `DROP INDEX CONCURRENTLY ${nameList(n.objects)}`;
  if (isVacuum(s)) return isVacuumFull(s) ? 'VACUUM FULL' : 'VACUUM';
  if (isReindexConcurrently(s)) return 'REINDEX ... CONCURRENTLY';
  if (
    s.type === 'ReindexStmt' &&
    (n.kind === 'REINDEX_OBJECT_SYSTEM' || n.kind === 'REINDEX_OBJECT_DATABASE')
  )
    return 'REINDEX SYSTEM/DATABASE';
  if (s.type === 'ClusterStmt' && !n.relation) return 'CLUSTER without a table';
  if (s.type === 'CreatedbStmt' || s.type === 'DropdbStmt') return 'CREATE/DROP DATABASE';
  if (s.type === 'AlterSystemStmt') return 'ALTER SYSTEM';
  if (s.type === 'CreateTableSpaceStmt' || s.type === 'DropTableSpaceStmt') return 'CREATE/DROP TABLESPACE';
  if (
    s.type === 'AlterTableStmt' &&
    alterCmds(n).some(
      (c) => c.subtype === 'AT_DetachPartition' && (c.def?.PartitionCmd as Json | undefined)?.concurrent,
    )
  )
    return 'DETACH PARTITION ... CONCURRENTLY';
  return undefined;
}
