/** A PR comment. GitHub rejects comments over 65,536 characters, so the report truncates itself. */
import { ruleDocs } from '../classify/registry.js';
import type { CheckReport } from './model.js';

export const GITHUB_COMMENT_LIMIT = 65_536;

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function formatMarkdown(report: CheckReport, limit = GITHUB_COMMENT_LIMIT): string {
  const icon = report.decision === 'block' ? '⛔' : report.decision === 'allow' ? '✅' : '➖';
  const head = [
    `## ${icon} migration-gate: ${report.decision}`,
    '',
    report.summary,
    ...report.nextSteps.map((n) => `\n**Next:** ${n}`),
    '',
    `From \`${report.from.join(', ') || 'base'}\` to \`${report.to.join(', ') || 'base'}\`: ${report.pending.length} pending.`,
    '',
    `_Baseline:_ ${cell(report.baseline.text)}`,
    '',
    '| Revision | File | Verdict | Findings |',
    '| --- | --- | --- | --- |',
  ];
  // The table gets at most a third of the budget; the findings matter more than the list of names.
  let tableChars = 0;
  for (const [i, m] of report.pending.entries()) {
    const row = `| \`${m.revision}\` | \`${cell(m.file)}\` | ${m.verdict}${m.overridden ? ' (override)' : ''} | ${m.findings.filter((f) => !f.allowed).length} |`;
    if (tableChars + row.length > limit / 3) {
      head.push(`| … | ${report.pending.length - i} more | | |`);
      break;
    }
    head.push(row);
    tableChars += row.length + 1;
  }
  head.push('');
  const sections: string[] = [];
  for (const m of report.pending) {
    if (m.findings.length === 0) continue;
    const body = [`### \`${m.revision}\` ${m.message ? cell(m.message) : ''}`, ''];
    for (const f of m.findings) {
      body.push(
        `- **${f.rule}**${ruleDocs(f.rule) ? ` ([docs](${ruleDocs(f.rule)}))` : ''} (${f.category}) at \`${m.file}:${f.line}\`${f.allowed ? ` — allowed: ${cell(f.allowed.reason)}` : ''}  `,
        `  ${cell(f.message)}  `,
        `  _Instead:_ ${cell(f.hint)}`,
      );
    }
    sections.push(body.join('\n') + '\n');
  }
  const tail: string[] = [];
  if (report.problems.length > 0) {
    tail.push(
      '### Problems',
      '',
      ...report.problems.map(
        (p) =>
          `- **${p.rule}**${p.file ? ` \`${p.file}${p.line ? ':' + p.line : ''}\`` : ''}: ${cell(p.message)}`,
      ),
      '',
    );
  }
  if (report.warnings.length > 0)
    tail.push('### Warnings', '', ...report.warnings.map((w) => `- ${cell(w)}`), '');

  let text = head.join('\n');
  const tailText = tail.join('\n');
  const note = (n: number) =>
    `\n_…${n} more migration section${n > 1 ? 's' : ''} omitted to fit GitHub's comment limit; run \`migration-gate check\` locally for the full report._\n`;
  let included = 0;
  for (const s of sections) {
    if (text.length + s.length + tailText.length + note(sections.length).length + 2 > limit) break;
    text += '\n' + s;
    included++;
  }
  if (included < sections.length) text += note(sections.length - included);
  const full = text + '\n' + tailText;
  return full.length > limit ? full.slice(0, limit - 20) + '\n_…truncated_\n' : full;
}
