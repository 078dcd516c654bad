/** GitHub Actions workflow commands: one annotation per finding, on its file and line. */
import type { CheckReport } from './model.js';

// Workflow command escaping as documented for ::error / ::warning.
function escData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escProp(s: string): string {
  return escData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function formatGithub(report: CheckReport): string {
  const lines: string[] = [];
  for (const m of report.pending) {
    for (const f of m.findings) {
      if (f.allowed) continue;
      const blocking =
        m.blockers.length > 0 && !m.overridden && f.category !== 'locking' && f.category !== 'review';
      const level = blocking ? 'error' : f.severity === 'info' ? 'notice' : 'warning';
      const props = [
        `file=${escProp(m.file)}`,
        `line=${f.line || 1}`,
        `title=${escProp(`migration-gate ${f.rule} (${m.verdict})`)}`,
      ];
      lines.push(`::${level} ${props.join(',')}::${escData(`${f.message}\nInstead: ${f.hint}`)}`);
    }
  }
  for (const p of report.problems) {
    const props = [
      p.file ? `file=${escProp(p.file)}` : '',
      p.line ? `line=${p.line}` : '',
      `title=${escProp(`migration-gate ${p.rule}`)}`,
    ]
      .filter(Boolean)
      .join(',');
    lines.push(
      `::${p.severity === 'error' ? 'error' : 'warning'} ${props}::${escData(p.message + (p.hint ? `\nInstead: ${p.hint}` : ''))}`,
    );
  }
  lines.push(`::notice title=migration-gate baseline::${escData(report.baseline.text)}`);
  lines.push(
    `::notice title=migration-gate::${escData(`${report.decision.toUpperCase()}: ${report.summary}`)}`,
  );
  return lines.join('\n');
}
