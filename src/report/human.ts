/** The default report: per migration its verdict and findings with file:line, then one decision line. */
import { ruleDocs } from '../classify/registry.js';
import type { CheckReport } from './model.js';

const MARK: Record<string, string> = {
  additive: 'additive   ',
  destructive: 'DESTRUCTIVE',
  unknown: 'UNKNOWN    ',
};

export function formatHuman(report: CheckReport): string {
  const out: string[] = [];
  const from = report.from.length ? report.from.join(', ') : 'base (empty database)';
  out.push(
    report.baseline.mode === 'parent'
      ? `Migrations up to ${report.to.join(', ') || 'base'}: ${report.pending.length}, each judged on its own`
      : `Pending migrations from ${from} to ${report.to.join(', ') || 'base'}: ${report.pending.length}`,
  );
  out.push(`Baseline: ${report.baseline.text}`);
  for (const m of report.pending) {
    const title = m.message ? ` "${m.message}"` : '';
    const tag = m.overridden ? ' (allowed by override)' : '';
    out.push('', `  ${MARK[m.verdict] ?? m.verdict} ${m.revision}${title}  ${m.file}${tag}`);
    for (const f of m.findings) {
      const allowed = f.allowed ? ` [allowed in file: ${f.allowed.reason}]` : '';
      out.push(
        `    ${f.severity === 'error' ? '✗' : f.severity === 'warning' ? '!' : 'i'} ${m.file}:${f.line} ${f.rule} (${f.category})${allowed}`,
      );
      out.push(`      ${f.message}`);
      if (f.hint) out.push(`      instead: ${f.hint}`);
      if (ruleDocs(f.rule)) out.push(`      rule: ${ruleDocs(f.rule)}`);
    }
    if (m.downgradeFindings.length > 0) {
      const drops = m.downgradeFindings.filter((f) => f.category === 'data-loss');
      if (drops.length > 0) {
        out.push(`    rollback: downgrade() would ${drops.map((f) => f.message.split(':')[0]).join('; ')}`);
      }
    }
  }
  if (report.problems.length > 0) {
    out.push('', 'Problems:');
    for (const p of report.problems) {
      const at = p.file ? `${p.file}${p.line ? ':' + p.line : ''} ` : '';
      out.push(
        `  ${p.severity === 'error' ? '✗' : '!'} ${at}${p.rule}: ${p.message}${p.hint ? `\n      instead: ${p.hint}` : ''}`,
      );
    }
  }
  if (report.warnings.length > 0) {
    out.push('', 'Warnings:');
    for (const w of report.warnings) out.push(`  ! ${w}`);
  }
  out.push('', `Decision: ${report.decision.toUpperCase()}. ${report.summary}`);
  for (const n of report.nextSteps) out.push(`Next: ${n}`);
  return out.join('\n');
}
