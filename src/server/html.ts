/**
 * Self-contained HTML for /status: no external assets; one inline stylesheet and one small inline
 * script, each allowed by its hash in the Content-Security-Policy. Every value goes through `esc`.
 * The page works without JavaScript; the script only refreshes it in place (keeping the scroll
 * position), where a <meta refresh> inside <noscript> is the fallback.
 */
import { createHash } from 'node:crypto';
import type { RunBrief, RunView, StatusView, UnreadableView } from './view.js';
import { ago } from './time.js';

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:1rem;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto}a{color:#2b6cb0}
h1{font-size:1.3rem;margin:0 0 .6rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.top{display:flex;justify-content:space-between;align-items:baseline;gap:1rem;flex-wrap:wrap}
.current,.summary{padding:.8rem 1rem;border-radius:6px;background:#fff;border-left:6px solid #8a94a6}
.current .what{font-size:1.1rem;margin:.3rem 0}.current p{margin:.35rem 0}
.ok{border-color:#1f9d55}.warn{border-color:#d69e2e}.bad{border-color:#d64545}.run{border-color:#3182ce}
.banner{padding:.6rem 1rem;border-radius:6px;margin:0 0 .8rem}
.banner.down{background:#fed7d7;color:#742a2a}.banner.warn{background:#fefcbf;color:#744210}
.stale{opacity:.75}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e2e5ea;vertical-align:top}
th{background:#eef0f4;font-weight:600}code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.pill{display:inline-block;padding:0 .5rem;border-radius:9px;background:#e2e5ea;font-size:.85em;white-space:nowrap}
.p-migrated,.p-noop,.p-allow,.p-additive,.p-restored,.p-rolled-back,.p-code-rollback{background:#c6f6d5;color:#22543d}
.p-destructive,.p-failed,.p-interrupted,.p-unreadable{background:#c53030;color:#fff}
.p-blocked,.p-block,.p-unknown,.p-locking{background:#f6ad55;color:#4a2500}.p-running{background:#bee3f8;color:#2a4365}
tr.destructive td:first-child{box-shadow:inset 4px 0 #c53030}tr.blocked td:first-child{box-shadow:inset 4px 0 #dd6b20}
.sev-error{color:#c53030;font-weight:600}.sev-warning{color:#b7791f;font-weight:600}
.muted{color:#5f6b7c}.foot{margin:1rem 0}ul{margin:.2rem 0;padding-left:1.2rem}time{text-decoration:underline dotted #a0aec0}
.cmd{display:block;background:#edf2f7;padding:.3rem .5rem;border-radius:4px;margin:.2rem 0}
form.inline{display:inline}button.link{background:none;border:0;padding:0;color:#2b6cb0;text-decoration:underline;cursor:pointer;font:inherit}
.signin{max-width:26rem;margin:3rem auto;background:#fff;padding:1.2rem 1.5rem;border-radius:6px}
.signin input{width:100%;box-sizing:border-box;padding:.5rem;margin:.4rem 0 .8rem;font:inherit}
.signin button{padding:.45rem 1.2rem;font:inherit}.notice{color:#9b2c2c}
@media (max-width:700px){.hide-narrow{display:none}}
`;

/**
 * Refresh in place every 30 s: fetch the same page, swap <main>, put the scroll back. Skipped while
 * the tab is hidden or text is selected; a 401 (session expired) reloads to show the sign-in form.
 * Exposed as window.migrationGateRefresh so the browser test can trigger one without waiting.
 */
const SCRIPT = `(function(){
var last=Date.now(),note=function(t){var n=document.getElementById('refresh-state');if(n)n.textContent=t;};
function refresh(){
if(!document.querySelector('main[data-refresh]'))return Promise.resolve();
last=Date.now();
return fetch(location.pathname,{headers:{Accept:'text/html'},credentials:'same-origin',cache:'no-store'}).then(function(r){
if(r.status===401){location.reload();return null;}
if(!r.ok){note('could not refresh (HTTP '+r.status+'): retrying in 30 s');return null;}
return r.text();}).then(function(t){
if(!t)return;var next=new DOMParser().parseFromString(t,'text/html').querySelector('main');
var cur=document.querySelector('main');if(!next||!cur)return;
var x=window.scrollX,y=window.scrollY;cur.replaceWith(next);window.scrollTo(x,y);
}).catch(function(){note('could not reach the status service: retrying in 30 s');});}
window.migrationGateRefresh=refresh;
setInterval(function(){if(document.hidden||String(window.getSelection()))return;refresh();},30000);
document.addEventListener('visibilitychange',function(){if(!document.hidden&&Date.now()-last>30000)refresh();});
})();`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
export const STYLE_HASH = hash(STYLE);
export const SCRIPT_HASH = hash(SCRIPT);

/** Only the one stylesheet and the one script; fetches and forms only to this origin. */
export const HTML_CSP = `default-src 'none'; style-src ${STYLE_HASH}; script-src ${SCRIPT_HASH}; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function page(title: string, body: string, refresh = false): string {
  // Without JavaScript the meta refresh keeps the status page current; with it, the script does it
  // in place and the <noscript> meta is not applied. Not on the run page or the sign-in form, where a
  // reload would interrupt reading or typing.
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refresh ? '<noscript><meta http-equiv="refresh" content="30"></noscript>' : ''}<meta name="robots" content="noindex">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main${refresh ? ' data-refresh="30"' : ''}>${body}</main>${refresh ? `<script>${SCRIPT}</script>` : ''}</body></html>
`;
}

function tone(outcome: string | undefined, up = true): string {
  if (!up) return 'bad';
  switch (outcome) {
    case 'migrated':
    case 'noop':
    case 'restored':
    case 'rolled-back':
    case 'code-rollback':
      return 'ok';
    case 'blocked':
      return 'warn';
    case 'failed':
    case 'interrupted':
      return 'bad';
    case 'running':
      return 'run';
    default:
      return 'warn';
  }
}

export interface PageOptions {
  /** A token is configured, so a sign-out button makes sense. */
  signOut: boolean;
  /** For relative times. */
  now: Date;
}

const pill = (v: string | null | undefined) => (v ? `<span class="pill p-${esc(v)}">${esc(v)}</span>` : '—');
const code = (v: string | null | undefined) => (v ? `<code>${esc(v)}</code>` : '—');
const codes = (v: string[] | null | undefined) => (v && v.length ? v.map((x) => code(x)).join(', ') : '—');
const secs = (ms: number | null | undefined) => (ms == null ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** "12 min ago" with the exact time on hover (and for screen readers and copy, in datetime). */
function when(iso: string | null | undefined, now: Date): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const exact = d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return `<time datetime="${esc(d.toISOString())}" title="${esc(exact)}">${esc(ago(d, now))}</time>`;
}

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

const signOutForm = `<form class="inline" method="post" action="/signout"><button class="link" type="submit">sign out</button></form>`;

/** Where a run is or stopped; only worth saying while it runs or after it failed or was cut off. */
const STEP_MATTERS = new Set(['running', 'failed', 'interrupted']);

function stepText(run: { outcome: string; step: string | null }): string {
  if (!run.step) return '—';
  if (run.outcome === 'running') return `at ${esc(run.step)}`;
  return STEP_MATTERS.has(run.outcome) ? `<strong>failed at: ${esc(run.step)}</strong>` : esc(run.step);
}

/** Provenance that newer versions record with a dump (absent in older rows). */
type DumpMeta = { madeBy?: string | null; revisions?: string[] | null; purpose?: string | null };

function dumpText(run: RunView): string {
  const dump = run.dump as (RunView['dump'] & DumpMeta) | null;
  if (!dump) return esc(run.dumpPolicy ? `none (policy ${run.dumpPolicy})` : '—');
  const what =
    run.command === 'restore'
      ? '<strong>pre-restore safety dump</strong> (the database as it was just before this restore) '
      : run.command === 'rollback'
        ? '<strong>pre-rollback safety dump</strong> (the database just before this downgrade) '
        : '';
  const made = dump.madeBy ? ` made by ${esc(dump.madeBy)}` : '';
  const revs = dump.revisions?.length ? ` at ${codes(dump.revisions)}` : '';
  return `${what}${code(dump.id)}${made}${revs}: ${code(dump.location)}, ${esc(bytes(dump.bytes))} in ${secs(dump.durationMs)} <span class="muted">sha256 ${esc((dump.sha256 ?? '').slice(0, 16))}…</span>${dump.purpose ? `<br><span class="muted">${esc(dump.purpose)}</span>` : ''}`;
}

function sourceText(run: RunView): string {
  const src = run.sourceDump;
  if (!src) return '';
  const origin = src.runId
    ? esc(run.sourceDumpOrigin ?? '').replace(
        `#${src.runId}`,
        `<a href="/status/runs/${esc(src.runId)}">#${esc(src.runId)}</a>`,
      )
    : esc(run.sourceDumpOrigin ?? '');
  return `restored from ${code(src.id)}, ${origin}${src.revisions?.length ? ` (revisions ${codes(src.revisions)})` : ''}${src.purpose ? ` <span class="muted">${esc(src.purpose)}</span>` : ''}`;
}

function wayBackHtml(run: RunView, labelled = true): string {
  const w = run.wayBack;
  if (!w) return '';
  const cmds = [w.rollback, w.restore].filter((c): c is string => !!c);
  return `<div class="wayback">${labelled ? '<strong>Way back:</strong>' : ''}${cmds.map((c) => `<code class="cmd">${esc(c)}</code>`).join('')}<span class="muted">${esc(w.note)}</span></div>`;
}

function runFacts(run: RunView, now: Date): Array<[string, string]> {
  const ov = run.override;
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
    ['Started', when(run.startedAt, now)],
    ['Finished', when(run.finishedAt, now)],
    ['Duration', secs(run.durationMs)],
    ['Decision', pill(run.decision)],
    ['Outcome', pill(run.outcome)],
    ['Step', stepText(run)],
    ['From revisions', codes(run.fromRevisions)],
    ['Code heads', codes(run.toRevisions)],
    ['Reached', codes(run.reachedRevisions)],
  ];
  if (run.sourceDump) facts.push(['Restored from', sourceText(run)]);
  facts.push(
    [
      'Override',
      ov
        ? `${ov.all ? '<strong>all</strong>' : codes(ov.revisions)}: reason: ${esc(ov.reason)}` +
          (ov.unused.length ? ` <span class="muted">(not pending: ${codes(ov.unused)})</span>` : '')
        : '—',
    ],
    [run.command === 'restore' ? 'Pre-restore dump' : 'Safety dump', dumpText(run)],
    ['Upgrade', secs(run.upgradeMs)],
    ['Error', run.error ? esc(run.error) : '—'],
  );
  if (run.wayBack) facts.push(['Way back', wayBackHtml(run, false)]);
  if (run.warnings.length)
    facts.push(['Warnings', `<ul>${run.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`]);
  return facts;
}

function finding(f: RunView['pending'][number]['findings'][number]): string {
  return (
    `<li><span class="sev-${esc(f.severity)}">${esc(f.severity)}</span> ${code(f.rule)} line ${esc(f.line)}: ${esc(f.message)}` +
    (f.allowed ? ` <span class="muted">(allowed: ${esc(f.allowed.reason)})</span>` : '') +
    (f.hint ? `<br><span class="muted">${esc(f.hint)}</span>` : '') +
    '</li>'
  );
}

function pendingTable(run: RunView): string {
  if (run.pending.length === 0) return '<p class="muted">No pending migrations.</p>';
  const body = run.pending
    .map((m) => {
      const findings = m.findings.length
        ? `<ul>${m.findings.map(finding).join('')}</ul>`
        : '<span class="muted">none</span>';
      const blocks = run.blockedRevisions.includes(m.revision);
      const cls = blocks ? 'blocked' : m.verdict === 'destructive' ? 'destructive' : '';
      return `<tr class="${cls}"><td>${code(m.revision)}${blocks ? ' <span class="pill p-blocked">blocks</span>' : ''}<br><span class="muted">${esc(m.file)}</span>${m.message ? `<br>${esc(m.message)}` : ''}</td><td>${pill(m.verdict)}</td><td>${findings}</td></tr>`;
    })
    .join('');
  return `<h2>Pending migrations (${run.pending.length})</h2><table><tr><th>Revision</th><th>Verdict</th><th>Findings</th></tr>${body}</table>`;
}

function unreadableRow(r: UnreadableView): string {
  const id = r.id === null ? '?' : `<a href="/status/runs/${esc(r.id)}">#${esc(r.id)}</a>`;
  return `<tr class="destructive"><td>${id}</td><td colspan="7">${pill('unreadable')} ${esc(r.unreadable)} <span class="muted">(the service log names this row)</span></td></tr>`;
}

function briefTable(runs: Array<RunBrief | UnreadableView>, now: Date, emptyText: string): string {
  if (runs.length === 0) return `<p class="muted">${esc(emptyText)}</p>`;
  const body = runs
    .map((r) => {
      if (r.unreadable !== undefined) return unreadableRow(r);
      const cls = r.outcome === 'blocked' ? 'blocked' : r.outcome === 'failed' ? 'destructive' : '';
      return `<tr class="${cls}"><td><a href="/status/runs/${esc(r.id)}">#${esc(r.id)}</a>${r.command === 'run' ? '' : ` <span class="muted">${esc(r.command)}</span>`}</td><td>${when(r.startedAt, now)}</td><td class="hide-narrow">${esc(r.service ?? '—')}</td><td class="hide-narrow">${code(r.commit?.slice(0, 12))}</td><td>${pill(r.outcome)}${r.step && STEP_MATTERS.has(r.outcome) ? ` <span class="muted">${r.outcome === 'running' ? 'at' : 'failed at'}: ${esc(r.step)}</span>` : ''}</td><td>${pill(r.decision)}</td><td>${esc(r.pending)}${r.blocked ? ` (${esc(r.blocked)} blocked)` : ''}${r.overridden ? ' <span class="muted">override</span>' : ''}</td><td class="hide-narrow">${secs(r.durationMs)}</td></tr>`;
    })
    .join('');
  return `<table><tr><th>Run</th><th>Started</th><th class="hide-narrow">Service</th><th class="hide-narrow">Commit</th><th>Outcome</th><th>Decision</th><th>Pending</th><th class="hide-narrow">Duration</th></tr>${body}</table>`;
}

function banners(s: StatusView, now: Date): string {
  const out: string[] = [];
  if (s.database.status === 'unreachable') {
    const data = s.database.dataReadAt
      ? ` Below: the last data read, ${when(s.database.dataReadAt, now)} (stale).`
      : ' Nothing has been read yet.';
    out.push(
      `<p class="banner down" role="alert"><strong>Database unreachable since ${when(s.database.unreachableSince, now)}</strong>: ${esc(s.database.error ?? 'no answer')}.${data}</p>`,
    );
  }
  if (s.historyProblem)
    out.push(
      `<p class="banner warn" role="alert"><strong>History unreadable</strong>: ${esc(s.historyProblem)}.</p>`,
    );
  return out.join('\n');
}

function currentState(s: StatusView, now: Date): string {
  const last = s.lastRun;
  const up = s.database.status === 'reachable';
  if (!last || last.unreadable !== undefined) {
    return `<section class="current ${up ? 'warn' : 'bad'}"><p class="what">${esc(s.summary)}</p></section>`;
  }
  const shownOutcome = s.inProgress.running ? 'running' : last.outcome;
  const source = last.sourceDump ? `<p>${sourceText(last)}</p>` : '';
  return `<section class="current ${tone(shownOutcome, up)}">
<div>${pill(shownOutcome)} <a href="/status/runs/${esc(last.id)}">run #${esc(last.id)}</a>${last.service ? ` · ${esc(last.service)}` : ''}${last.commit ? ` · ${code(last.commit.slice(0, 12))}` : ''} · started ${when(last.startedAt, now)}${last.step && STEP_MATTERS.has(shownOutcome) ? ` · ${stepText({ ...last, outcome: shownOutcome })}` : ''}</div>
<p class="what">${esc(s.summary)}</p>${source}${wayBackHtml(last)}</section>`;
}

function databaseFacts(s: StatusView, now: Date): string {
  const up = s.database.status === 'reachable';
  let revision: string;
  if (!up) {
    revision = `unknown while the database is unreachable${s.revisions.database?.length ? `; last read: ${codes(s.revisions.database)}` : ''}`;
  } else {
    revision =
      s.revisions.database === null
        ? '<span class="muted">no version table (Alembic never ran here)</span>'
        : codes(s.revisions.database);
  }
  return rows([
    ['Database revision', revision],
    [`Code heads (${s.revisions.codeSource})`, codes(s.revisions.code)],
    ['Match', up ? pill(s.revisions.match) : 'unknown'],
    [
      'Gate run in progress',
      s.inProgress.running
        ? `yes, since ${when(s.inProgress.since, now)} (pid ${esc(s.inProgress.pid)}${s.inProgress.application ? `, ${esc(s.inProgress.application)}` : ''})`
        : 'no',
    ],
    ['Last successful migration', when(s.lastMigratedAt, now)],
  ]);
}

function footer(generatedAt: string, schema: string | null, opts: PageOptions): string {
  // A <div>, not a <p>: the sign-out <form> inside a <p> would end the paragraph.
  return `<div class="muted foot">Generated ${when(generatedAt, opts.now)}${schema ? ` · history schema ${code(schema)}` : ''} · <a href="/status">status</a> · JSON: <code>curl -H 'Accept: application/json'</code>${opts.signOut ? ` · ${signOutForm}` : ''} <span id="refresh-state"></span></div>`;
}

export function statusPage(s: StatusView, opts: PageOptions): string {
  const now = new Date(s.generatedAt);
  const up = s.database.status === 'reachable';
  const none = up
    ? 'No runs recorded yet.'
    : 'Unknown while the database is unreachable: the last read found no runs.';
  const body = `<div class="top"><h1>migration-gate status</h1>${opts.signOut ? signOutForm : ''}</div>
${banners(s, now)}
${currentState(s, now)}
<div class="${up ? '' : 'stale'}">
<h2>Database</h2>
${databaseFacts(s, now)}
${s.lastRun && s.lastRun.unreadable === undefined ? `<h2>Latest run</h2>${rows(runFacts(s.lastRun, now))}${pendingTable(s.lastRun)}` : ''}
<h2>Recent runs</h2>
${s.database.dataReadAt || up ? briefTable(s.recentRuns, now, none) : '<p class="muted">Nothing read yet.</p>'}
</div>
${footer(s.generatedAt, s.schema, { ...opts, now })}`;
  return page('migration-gate status', body, true);
}

export function runPage(run: RunView, opts: PageOptions): string {
  const body = `<div class="top"><h1>migration-gate run #${esc(run.id)}</h1>${opts.signOut ? signOutForm : ''}</div>
<p class="summary ${tone(run.outcome)}">${esc(run.summary)}</p>
${rows(runFacts(run, opts.now))}${pendingTable(run)}
<div class="muted foot"><a href="/status">back to status</a>${opts.signOut ? ` · ${signOutForm}` : ''}</div>`;
  return page(`migration-gate run #${run.id}`, body);
}

export function unreadablePage(run: UnreadableView, opts: PageOptions): string {
  const body = `<h1>migration-gate run #${esc(run.id ?? '?')}</h1>
<p class="summary bad">This history row is unreadable: ${esc(run.unreadable)}. migration-gate did not write it in this shape (a hand edit, or another tool); the service log names it. Inspect it with SELECT * FROM the history table WHERE id = ${esc(run.id ?? '?')}.</p>
<div class="muted foot"><a href="/status">back to status</a>${opts.signOut ? ` · ${signOutForm}` : ''}</div>`;
  return page(`migration-gate run #${run.id ?? '?'}`, body);
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
