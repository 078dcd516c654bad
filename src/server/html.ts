/**
 * Self-contained HTML for /status: no scripts, no external assets, one inline stylesheet allowed by
 * its hash in the Content-Security-Policy. Every value goes through `esc`.
 */
import { createHash } from 'node:crypto';
import type { RunBrief, RunView, StatusView } from './view.js';

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:1.5rem;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto}
h1{font-size:1.3rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}
.summary{padding:.8rem 1rem;border-radius:6px;background:#fff;border-left:6px solid #8a94a6;font-size:1.05rem}
.ok{border-color:#1f9d55}.warn{border-color:#d69e2e}.bad{border-color:#d64545}.run{border-color:#3182ce}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e2e5ea;vertical-align:top}
th{background:#eef0f4;font-weight:600}code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace}
.pill{display:inline-block;padding:0 .5rem;border-radius:9px;background:#e2e5ea;font-size:.85em}
.p-migrated,.p-noop,.p-allow{background:#c6f6d5}.p-blocked,.p-block,.p-failed,.p-interrupted{background:#fed7d7}.p-running{background:#bee3f8}
.muted{color:#5f6b7c}ul{margin:.2rem 0;padding-left:1.2rem}
form.inline{display:inline}button.link{background:none;border:0;padding:0;color:#2b6cb0;text-decoration:underline;cursor:pointer;font:inherit}
.signin{max-width:26rem;margin:3rem auto;background:#fff;padding:1.2rem 1.5rem;border-radius:6px}
.signin input{width:100%;box-sizing:border-box;padding:.5rem;margin:.4rem 0 .8rem;font:inherit}
.signin button{padding:.45rem 1.2rem;font:inherit}.notice{color:#9b2c2c}
`;

export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** Strict: nothing but the one stylesheet; forms only to this origin (sign-in, sign-out). */
export const HTML_CSP = `default-src 'none'; style-src ${STYLE_HASH}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function page(title: string, body: string, refresh = false): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refresh ? '<meta http-equiv="refresh" content="30">' : ''}<meta name="robots" content="noindex">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

function tone(outcome: string | undefined, up = true): string {
  if (!up) return 'bad';
  switch (outcome) {
    case 'migrated':
    case 'noop':
    case 'restored':
    case 'rolled-back':
      return 'ok';
    case 'blocked':
    case 'failed':
    case 'interrupted':
      return 'bad';
    case 'running':
      return 'run';
    default:
      return 'warn';
  }
}

const pill = (v: string | null | undefined) => (v ? `<span class="pill p-${esc(v)}">${esc(v)}</span>` : '—');
const code = (v: string | null | undefined) => (v ? `<code>${esc(v)}</code>` : '—');
const codes = (v: string[] | null | undefined) => (v && v.length ? v.map((x) => code(x)).join(', ') : '—');
const secs = (ms: number | null | undefined) => (ms == null ? '—' : `${(ms / 1000).toFixed(1)} s`);

function bytes(n: number | null | undefined): string {
  if (n == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function rows(pairs: Array<[string, string]>): string {
  return `<table>${pairs.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function runDetails(run: RunView): string {
  const ov = run.override;
  const dump = run.dump;
  const facts: Array<[string, string]> = [
    ['Run', `#${esc(run.id)} (${esc(run.command)})`],
    [
      'Service',
      esc(run.service ?? '—') + (run.serviceId ? ` <span class="muted">${esc(run.serviceId)}</span>` : ''),
    ],
    [
      'Commit',
      code(run.commit) + (run.isPullRequest ? ' <span class="muted">(pull request preview)</span>' : ''),
    ],
    ['Started', esc(run.startedAt)],
    ['Finished', esc(run.finishedAt ?? '—')],
    ['Duration', secs(run.durationMs)],
    ['Decision', pill(run.decision)],
    ['Outcome', pill(run.outcome)],
    ['From revisions', codes(run.fromRevisions)],
    ['Code heads', codes(run.toRevisions)],
    ['Reached', codes(run.reachedRevisions)],
    [
      'Override',
      ov
        ? `${ov.all ? '<strong>all</strong>' : codes(ov.revisions)} — reason: ${esc(ov.reason)}` +
          (ov.unused.length ? ` <span class="muted">(not pending: ${codes(ov.unused)})</span>` : '')
        : '—',
    ],
    [
      'Safety dump',
      dump
        ? `${code(dump.location)} — ${esc(bytes(dump.bytes))} in ${secs(dump.durationMs)} <span class="muted">id ${esc(dump.id)}, sha256 ${esc(dump.sha256.slice(0, 16))}…</span>`
        : esc(run.dumpPolicy ? `none (policy ${run.dumpPolicy})` : '—'),
    ],
    ['Upgrade', secs(run.upgradeMs)],
    ['Error', run.error ? esc(run.error) : '—'],
  ];
  if (run.warnings.length)
    facts.push(['Warnings', `<ul>${run.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`]);
  return rows(facts) + pendingTable(run);
}

function pendingTable(run: RunView): string {
  if (run.pending.length === 0) return '<p class="muted">No pending migrations.</p>';
  const body = run.pending
    .map((m) => {
      const findings = m.findings.length
        ? `<ul>${m.findings
            .map(
              (f) =>
                `<li><strong>${esc(f.severity)}</strong> ${code(f.rule)} line ${esc(f.line)}: ${esc(f.message)}` +
                (f.allowed ? ` <span class="muted">(allowed: ${esc(f.allowed.reason)})</span>` : '') +
                (f.hint ? `<br><span class="muted">${esc(f.hint)}</span>` : '') +
                '</li>',
            )
            .join('')}</ul>`
        : '<span class="muted">none</span>';
      const blocked = run.blockedRevisions.includes(m.revision)
        ? ' <span class="pill p-blocked">blocks</span>'
        : '';
      return `<tr><td>${code(m.revision)}${blocked}<br><span class="muted">${esc(m.file)}</span>${m.message ? `<br>${esc(m.message)}` : ''}</td><td>${pill(m.verdict)}</td><td>${findings}</td></tr>`;
    })
    .join('');
  return `<h2>Pending migrations (${run.pending.length})</h2><table><tr><th>Revision</th><th>Verdict</th><th>Findings</th></tr>${body}</table>`;
}

function briefTable(runs: RunBrief[]): string {
  if (runs.length === 0) return '<p class="muted">No runs recorded yet.</p>';
  const body = runs
    .map(
      (r) =>
        `<tr><td><a href="/status/runs/${esc(r.id)}">#${esc(r.id)}</a></td><td>${esc(r.startedAt)}</td><td>${esc(r.service ?? '—')}</td><td>${code(r.commit?.slice(0, 12))}</td><td>${pill(r.decision)}</td><td>${pill(r.outcome)}</td><td>${esc(r.pending)}${r.blocked ? ` (${esc(r.blocked)} blocked)` : ''}${r.overridden ? ' <span class="muted">override</span>' : ''}</td><td>${secs(r.durationMs)}</td></tr>`,
    )
    .join('');
  return `<table><tr><th>Run</th><th>Started</th><th>Service</th><th>Commit</th><th>Decision</th><th>Outcome</th><th>Pending</th><th>Duration</th></tr>${body}</table>`;
}

const signOut = `<form class="inline" method="post" action="/signout"><button class="link" type="submit">sign out</button></form>`;

export interface PageOptions {
  /** A token is configured, so a sign-out button makes sense. */
  signOut: boolean;
}

export function statusPage(s: StatusView, opts: PageOptions = { signOut: false }): string {
  const up = s.database.status === 'reachable';
  const db = up
    ? 'reachable'
    : `<strong>unreachable</strong>: ${esc(s.database.error ?? '')}` +
      (s.database.dataAgeSeconds != null
        ? ` — showing cached data from ${esc(Math.round(s.database.dataAgeSeconds))} s ago`
        : ' — no data read yet');
  const revFacts: Array<[string, string]> = [
    ['Database', db],
    [
      'Database revision',
      s.revisions.database === null
        ? '<span class="muted">no version table</span>'
        : codes(s.revisions.database),
    ],
    [`Code heads (${s.revisions.codeSource})`, codes(s.revisions.code)],
    ['Match', pill(s.revisions.match)],
    [
      'Gate run in progress',
      s.inProgress.running
        ? `yes, since ${esc(s.inProgress.since)} (pid ${esc(s.inProgress.pid)}${s.inProgress.application ? `, ${esc(s.inProgress.application)}` : ''})`
        : 'no',
    ],
    ['Last successful migration', esc(s.lastMigratedAt ?? '—')],
  ];
  const body = `<h1>migration-gate status</h1>
<p class="summary ${tone(s.lastRun?.outcome, up)}">${esc(s.summary)}</p>
${rows(revFacts)}
<h2>Last run</h2>
${s.lastRun ? runDetails(s.lastRun) : '<p class="muted">No runs recorded yet.</p>'}
<h2>Recent runs</h2>
${briefTable(s.recentRuns)}
<p class="muted">Generated ${esc(s.generatedAt)} · history schema ${code(s.schema)} · <a href="/status">refresh</a> · JSON: <code>curl -H 'Accept: application/json'</code>${opts.signOut ? ` · ${signOut}` : ''}</p>`;
  return page('migration-gate status', body, true);
}

export function runPage(run: RunView, opts: PageOptions = { signOut: false }): string {
  const body = `<h1>migration-gate run #${esc(run.id)}</h1>
<p class="summary ${tone(run.outcome)}">${esc(run.summary)}</p>
${runDetails(run)}
<p class="muted"><a href="/status">back to status</a>${opts.signOut ? ` · ${signOut}` : ''}</p>`;
  return page(`migration-gate run #${run.id}`, body);
}

/** The sign-in form shown to a browser without a valid session; `next` is where it returns. */
export function signInPage(next: string, notice?: string): string {
  return page(
    'migration-gate: sign in',
    `<div class="signin"><h1>migration-gate status</h1>
${notice ? `<p class="notice" role="alert">${esc(notice)}</p>` : ''}<form method="post" action="/signin">
<label for="token">Status token (MIGRATION_GATE_STATUS_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="${esc(next)}">
<button type="submit">Sign in</button></form>
<p class="muted">The token is in the status service's environment on Render. Signing in keeps you signed in on this browser for 12 hours; the token itself is not stored.</p></div>`,
  );
}

export function messagePage(status: number, title: string, message: string): string {
  return page(
    title,
    `<h1>${esc(status)} ${esc(title)}</h1><p class="summary bad">${esc(message)}</p><p><a href="/status">status</a></p>`,
  );
}
