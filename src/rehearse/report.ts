/** The rehearsal report as text (terminal), JSON (machines) and Markdown (a PR comment or a ticket). */
import { formatBytes } from '../db/dump.js';
import type { MigrationRehearsal, RehearsalReport } from './rehearse.js';

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

function rows(n: number | null, exact: boolean): string {
  if (n === null) return '?';
  return exact ? String(n) : `~${n}`;
}

function bytes(n: number | null): string {
  return n === null ? '-' : formatBytes(n);
}

function tableLine(t: MigrationRehearsal['tables'][number]): string {
  const r = `${t.rowsBefore === null ? '(new)' : rows(t.rowsBefore, t.exact)} -> ${t.rowsAfter === null ? '(dropped)' : rows(t.rowsAfter, t.exact)} rows`;
  return `${t.table}: ${r}, ${bytes(t.bytesBefore)} -> ${bytes(t.bytesAfter)}`;
}

export function formatRehearsalText(r: RehearsalReport): string {
  const out: string[] = [];
  out.push(r.summary, '');
  out.push(`Source:   ${r.source.description} (${formatBytes(r.source.bytes)})`);
  out.push(
    `Scratch:  ${r.scratch.database} on ${r.scratch.server} (${r.scratch.kind === 'local-cluster' ? 'throwaway local cluster' : 'REHEARSAL_DATABASE_URL'})`,
  );
  out.push(
    `Restore:  ${s(r.restore.durationMs)} (${r.restore.streamed ? 'pg_dump streamed into pg_restore' : `pg_restore -j ${r.restore.jobs}`})`,
  );
  for (const w of r.restore.warnings) out.push(`  pg_restore: ${w}`);
  out.push(
    `Revisions: ${r.fromRevisions.join(', ') || 'base'} -> ${r.targetRevisions.join(', ')} (reached ${r.reachedRevisions.join(', ') || 'base'})`,
  );
  for (const m of r.migrations) {
    out.push(
      '',
      `${m.ok ? 'OK  ' : 'FAIL'} ${m.revision}${m.message ? ` ${m.message}` : ''} (${m.file}): ${s(m.durationMs)}`,
    );
    if (m.error) {
      out.push(`  error: ${m.error.message}`);
      if (m.error.statement) out.push(`  failing statement: ${m.error.statement.replace(/\n/g, '\n    ')}`);
    }
    if (m.locks.length > 0) {
      out.push('  locks:');
      for (const l of m.locks)
        out.push(`    ${l.relation}: ${l.mode} ~${l.heldMs} ms${l.waited ? ' (waited for it)' : ''}`);
    }
    if (m.tables.length > 0) {
      out.push('  tables:');
      for (const t of m.tables) out.push(`    ${tableLine(t)}`);
    }
  }
  if (r.smoke) {
    out.push(
      '',
      `Smoke: ${r.smoke.passed ? 'passed' : 'FAILED'} (exit ${r.smoke.exitCode}, ${s(r.smoke.durationMs)}): ${r.smoke.command}`,
    );
    if (!r.smoke.passed) for (const l of r.smoke.output.slice(-10)) out.push(`  ${l}`);
  }
  if (r.roundtrip) {
    const rt = r.roundtrip;
    out.push(
      '',
      `Roundtrip: ${rt.passed ? 'passed' : 'FAILED'} (downgrade to ${rt.downgradeTo} ${s(rt.downgradeMs)}, upgrade again ${s(rt.reupgradeMs)})`,
    );
    if (rt.error) out.push(`  ${rt.error}`);
    if (rt.diff.length > 0) {
      out.push('  schema after the downgrade differs from the start (- start only, + after downgrade only):');
      for (const d of rt.diff.slice(0, 50)) out.push(`    ${d}`);
    }
  }
  if (r.scratch.kept && r.scratch.connect) out.push('', `Kept the scratch database: ${r.scratch.connect}`);
  out.push('', `Total: ${s(r.totalMs)}`);
  return out.join('\n');
}

export function formatRehearsalJson(r: RehearsalReport): string {
  return JSON.stringify(r, null, 2);
}

function md(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function formatRehearsalMarkdown(r: RehearsalReport): string {
  const out: string[] = [];
  out.push(`### migration-gate rehearsal: ${r.passed ? 'passed' : 'FAILED'}`, '', r.summary, '');
  out.push(`- Source: \`${r.source.description}\` (${formatBytes(r.source.bytes)})`);
  out.push(
    `- Restore: ${s(r.restore.durationMs)} with \`${r.restore.streamed ? 'pg_dump | pg_restore' : `pg_restore -j ${r.restore.jobs}`}\``,
  );
  out.push(`- Revisions: \`${r.fromRevisions.join(', ') || 'base'}\` -> \`${r.targetRevisions.join(', ')}\``);
  if (r.migrations.length > 0) {
    out.push('', '| Revision | Result | Time | Locks | Tables |', '| --- | --- | --- | --- | --- |');
    for (const m of r.migrations) {
      const locks = m.locks.map((l) => `${l.relation}: ${l.mode} ~${l.heldMs} ms`).join('<br>') || '-';
      const tables = m.tables.map(tableLine).join('<br>') || '-';
      out.push(
        `| \`${m.revision}\` ${md(m.message ?? '')} | ${m.ok ? 'ok' : '**failed**'} | ${s(m.durationMs)} | ${md(locks)} | ${md(tables)} |`,
      );
    }
    for (const m of r.migrations.filter((x) => x.error)) {
      out.push('', `**${m.revision} failed:** ${m.error!.message}`);
      if (m.error!.statement) out.push('', '```sql', m.error!.statement, '```');
    }
  }
  if (r.smoke)
    out.push(
      '',
      `- Smoke \`${r.smoke.command}\`: ${r.smoke.passed ? 'passed' : `**failed** (exit ${r.smoke.exitCode})`}`,
    );
  if (r.roundtrip) {
    out.push(
      '',
      `- Roundtrip (downgrade to \`${r.roundtrip.downgradeTo}\`, upgrade again): ${r.roundtrip.passed ? 'passed' : '**failed**'}${r.roundtrip.error ? `: ${r.roundtrip.error}` : ''}`,
    );
    if (r.roundtrip.diff.length > 0) out.push('', '```diff', ...r.roundtrip.diff.slice(0, 50), '```');
  }
  return out.join('\n');
}
