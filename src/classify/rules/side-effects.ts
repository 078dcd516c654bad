import { alterCmds, nameList, relName, sideEffectCall, tableLabel, writesOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const HINT =
  'Check by hand what it changes for the running app; if it is safe, add `# migration-gate: allow side-effects -- <reason>` to the migration.';

const stop = (message: string, table?: string): RuleHit => ({ table, message, hint: HINT });

const DISABLE = new Set(['AT_DisableTrig', 'AT_DisableTrigAll', 'AT_DisableTrigUser']);

export const sideEffects: Rule = {
  id: 'side-effects',
  category: 'opaque',
  severity: 'error',
  summary:
    'Statements whose effect is not adding: SELECT calling non-read-only functions, GRANT/REVOKE, OWNER TO, DISABLE TRIGGER, ENABLE ROW LEVEL SECURITY, CREATE OR REPLACE FUNCTION, ALTER SEQUENCE RESTART, ALTER EXTENSION.',
  check(op) {
    if (op.kind !== 'sql') return [];
    const { type, node: n, text } = op.stmt;
    if (type === 'SelectStmt' && writesOf(type, n).length === 0) {
      const fn = sideEffectCall(n);
      return fn
        ? [
            stop(
              `SELECT calls ${fn}(), which migration-gate does not know to be read-only: functions such as setval(), lo_unlink(), pg_terminate_backend() or the app's own change data or sessions (${text.slice(0, 60)})`,
            ),
          ]
        : [];
    }
    if (type === 'GrantStmt' || type === 'GrantRoleStmt' || type === 'AlterDefaultPrivilegesStmt') {
      const verb = n.is_grant === false ? 'REVOKE' : 'GRANT';
      return [
        stop(
          `${verb} changes privileges (${text.slice(0, 60)}): the app or another service may lose access it relies on, or a role may gain access it should not have`,
        ),
      ];
    }
    if (type === 'AlterSeqStmt') {
      const restart = ((n.options as Array<Record<string, unknown>> | undefined) ?? []).some(
        (o) => (o.DefElem as Record<string, unknown> | undefined)?.defname === 'restart',
      );
      return restart
        ? [
            stop(
              `ALTER SEQUENCE ... RESTART sets the next value the app's inserts get: below the existing keys they fail with duplicate key errors (${text.slice(0, 60)})`,
            ),
          ]
        : [];
    }
    if (type === 'AlterExtensionStmt') {
      return [
        stop(
          `ALTER EXTENSION ${String(n.extname)} replaces the extension's functions and types with another version's, under the running app`,
        ),
      ];
    }
    if (type === 'AlterOwnerStmt') {
      return [
        stop(
          `ALTER ... OWNER TO changes who owns ${nameList(n.object)}: the old owner loses the rights only owners have (ALTER, DROP, granting)`,
        ),
      ];
    }
    if ((type === 'CreateFunctionStmt' || type === 'CreateTrigStmt') && n.replace) {
      const what = type === 'CreateTrigStmt' ? 'trigger' : n.is_procedure ? 'procedure' : 'function';
      const name = type === 'CreateTrigStmt' ? String(n.trigname) : nameList(n.funcname);
      return [
        stop(
          `CREATE OR REPLACE ${what.toUpperCase()} ${name} replaces behaviour the app may rely on; the old definition is gone unless it is in a downgrade()`,
        ),
      ];
    }
    if (type === 'AlterTableStmt') {
      const table = relName(n.relation);
      return alterCmds(n).flatMap((c) =>
        DISABLE.has(c.subtype)
          ? [
              stop(
                `ALTER TABLE ${tableLabel(table)} DISABLE TRIGGER ${c.name ?? 'ALL'}: writes stop firing it (audit rows, derived data, and with ALL the foreign-key checks) until someone enables it again`,
                table,
              ),
            ]
          : c.subtype === 'AT_EnableRowSecurity' || c.subtype === 'AT_ForceRowSecurity'
            ? [
                stop(
                  `ALTER TABLE ${tableLabel(table)} ${c.subtype === 'AT_ForceRowSecurity' ? 'FORCE' : 'ENABLE'} ROW LEVEL SECURITY: from now on roles see only the rows a policy allows, none when no policy matches, so the app may stop seeing its own data`,
                  table,
                ),
              ]
            : c.subtype === 'AT_ChangeOwner'
              ? [
                  stop(
                    `ALTER TABLE ${tableLabel(table)} OWNER TO changes who owns the table: the old owner loses ALTER and DROP on it`,
                    table,
                  ),
                ]
              : [],
      );
    }
    return [];
  },
};
export default sideEffects;
