/**
 * The PostgreSQL facts behind the classifier, checked on the harness's real PostgreSQL: every
 * test/fixtures/classify/*.py with `# pg-expect:` lines is run by the real alembic on a fresh database
 * prepared by its `# pg-setup:` lines, and what PostgreSQL did (failed, rewrote the table: relfilenode
 * changed, kept it, rows left) must match, and match what the classifier says about it.
 */
import { mkdtempSync, readFileSync, rmSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { catalogTable, classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { tableFacts } from '../../src/db/catalog.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { CLASSIFY_FIXTURES, fixtureNames, fixtureScript } from '../helpers/migration.js';
import { repoRoot, tempProject, type TempProject } from '../helpers/project.js';

beforeAll(initClassifier);

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function headers(name: string, key: string): string[] {
  const source = readFileSync(path.join(CLASSIFY_FIXTURES, name), 'utf8');
  const prefix = `# ${key}: `;
  return source
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length).trim());
}

async function withClient<T>(db: TestDatabase, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const relfilenode = (c: pg.Client, table: string) =>
  c
    .query<{ n: string }>('SELECT relfilenode::text AS n FROM pg_class WHERE oid = $1::regclass', [table])
    .then((r) => r.rows[0]?.n);

async function freshDb(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase(name);
  cleanups.push(() => db.drop());
  return db;
}

function projectWith(fixture: string): TempProject {
  const p = tempProject();
  cleanups.push(() => p.cleanup());
  cpSync(path.join(CLASSIFY_FIXTURES, fixture), path.join(p.versions, fixture));
  return p;
}

const upgrade = (p: TempProject, db: TestDatabase, target = 'head') =>
  execa(alembicBin(), ['-c', p.ini, 'upgrade', target], {
    cwd: p.dir,
    env: { DATABASE_URL: db.url },
    reject: false,
    all: true,
  });

const PG_FIXTURES = fixtureNames().filter((n) => headers(n, 'pg-expect').length > 0);

test('the PostgreSQL-behaviour fixtures are there', () => {
  expect(PG_FIXTURES.length).toBeGreaterThanOrEqual(18);
});

test.each(PG_FIXTURES)('%s: PostgreSQL does what the classifier says', async (name) => {
  const db = await freshDb('pgfact');
  const expects = headers(name, 'pg-expect').map((e) => e.split(/\s+/));
  const watched = expects.filter(([k]) => k === 'rewrites' || k === 'keeps').map(([, t]) => t!);
  const before = await withClient(db, async (c) => {
    for (const sql of headers(name, 'pg-setup')) await c.query(sql);
    await c.query('ANALYZE');
    return Promise.all(watched.map((t) => relfilenode(c, t)));
  });
  const res = await upgrade(projectWith(name), db);
  const [classified] = classifyMigrations([fixtureScript(name)]);
  const messages = classified!.findings.map((f) => f.message).join('\n');
  await withClient(db, async (c) => {
    for (const [kind, table, count] of expects) {
      if (kind === 'fails') {
        expect(res.exitCode).not.toBe(0);
        // The classifier said so before the deploy.
        expect(messages).toMatch(
          /fails at deploy|fails if a row holds NULL|commits? .*half|makes the first half/,
        );
        continue;
      }
      if (kind === 'exists') {
        const r = await c.query('SELECT to_regclass($1) AS t', [table]);
        expect(r.rows[0].t).not.toBeNull();
        continue;
      }
      expect({ exit: res.exitCode, output: res.exitCode === 0 ? '' : res.all }).toEqual({
        exit: 0,
        output: '',
      });
      if (kind === 'rewrites' || kind === 'keeps') {
        const now = await relfilenode(c, table!);
        const was = before[watched.indexOf(table!)];
        if (kind === 'rewrites') {
          expect(now).not.toBe(was);
          expect(messages).toMatch(/rewrite/);
        } else {
          expect(now).toBe(was);
          expect(messages).not.toMatch(/rewrite/);
        }
      }
      if (kind === 'rows') {
        const r = await c.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM ${pg.escapeIdentifier(table!)}`,
        );
        expect(r.rows[0]!.n).toBe(count);
      }
    }
  });
});

test('raw ALTER COLUMN TYPE widenings: with the live catalog (run) the old types are known, nothing is rewritten', async () => {
  const name = '212_raw_sql_widen_old_type_from_catalog.py';
  const db = await freshDb('pgcoerce');
  const { before, catalog } = await withClient(db, async (c) => {
    for (const sql of headers(name, 'pg-setup')) await c.query(sql);
    const facts = await tableFacts(c, ['orders']);
    return {
      before: await Promise.all(['orders', 'ix_orders_code'].map((t) => relfilenode(c, t))),
      catalog: new Map([...facts].map(([n, f]) => [n, catalogTable(f)] as const)),
    };
  });
  const [blind] = classifyMigrations([fixtureScript(name)]);
  // Without the catalog the old types are unknown: the verdict stays as before.
  expect(blind!.findings.map((f) => f.rule)).toContain('alter-column-type');
  const [seen] = classifyMigrations([fixtureScript(name)], { catalog });
  expect(seen!.findings.map((f) => f.message)).toEqual([]);
  expect(seen!.verdict).toBe('additive');
  const res = await upgrade(projectWith(name), db);
  expect({ exit: res.exitCode, output: res.exitCode === 0 ? '' : res.all }).toEqual({ exit: 0, output: '' });
  await withClient(db, async (c) => {
    expect(await Promise.all(['orders', 'ix_orders_code'].map((t) => relfilenode(c, t)))).toEqual(before);
    const cols = (await tableFacts(c, ['orders'])).get('orders')!.columns.map((x) => [x.name, x.type]);
    expect(cols).toEqual([
      ['id', 'integer'],
      ['code', 'character varying(64)'],
      ['body', 'character varying'],
      ['total', 'numeric(18,2)'],
    ]);
  });
});

describe('locks and scans PostgreSQL takes', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDb('pglocks');
    await withClient(db, (c) =>
      c.query(
        "CREATE TABLE orders (id int, status text, total int); INSERT INTO orders SELECT g, 'new', g FROM generate_series(1, 1000) g",
      ),
    );
  });

  const locksHeld = (observer: pg.Client) =>
    observer
      .query<{ mode: string }>(
        "SELECT mode FROM pg_locks WHERE relation = 'orders'::regclass AND granted ORDER BY mode",
      )
      .then((r) => r.rows.map((x) => x.mode));

  test('ADD ... NOT VALID then VALIDATE in one transaction holds ACCESS EXCLUSIVE through the scan', async () => {
    await withClient(db, (observer) =>
      withClient(db, async (migration) => {
        await migration.query('BEGIN');
        await migration.query('ALTER TABLE orders ADD CONSTRAINT ck_total CHECK (total >= 0) NOT VALID');
        await migration.query('ALTER TABLE orders VALIDATE CONSTRAINT ck_total');
        expect(await locksHeld(observer)).toContain('AccessExclusiveLock');
        await migration.query('ROLLBACK');
        // Committed first, the validation alone takes only SHARE UPDATE EXCLUSIVE.
        await migration.query('ALTER TABLE orders ADD CONSTRAINT ck_total CHECK (total >= 0) NOT VALID');
        await migration.query('BEGIN');
        await migration.query('ALTER TABLE orders VALIDATE CONSTRAINT ck_total');
        expect(await locksHeld(observer)).toEqual(['ShareUpdateExclusiveLock']);
        await migration.query('ROLLBACK');
        await migration.query('ALTER TABLE orders DROP CONSTRAINT ck_total');
      }),
    );
  });

  test('SET NOT NULL with a validated CHECK (col IS NOT NULL) skips the scan; without it, it scans', async () => {
    await withClient(db, async (c) => {
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      await c.query('SET client_min_messages = debug1');
      await c.query(
        'ALTER TABLE orders ADD CONSTRAINT orders_status_nn CHECK (status IS NOT NULL) NOT VALID',
      );
      await c.query('ALTER TABLE orders VALIDATE CONSTRAINT orders_status_nn');
      await c.query('ALTER TABLE orders ALTER COLUMN status SET NOT NULL');
      expect(notices.join('\n')).toContain('are sufficient to prove that it does not contain nulls');
      notices.length = 0;
      await c.query('ALTER TABLE orders ALTER COLUMN total SET NOT NULL');
      expect(notices.join('\n')).not.toContain('sufficient to prove');
      expect(notices.join('\n')).toContain('verifying table "orders"');
    });
  });

  test('tableFacts reads nullability, constraints with their validated state, partitioning', async () => {
    await withClient(db, async (c) => {
      await c.query('ALTER TABLE orders ADD CONSTRAINT ck_total_nn CHECK (total IS NOT NULL) NOT VALID');
      await c.query('CREATE TABLE parted (id int NOT NULL) PARTITION BY RANGE (id)');
      const facts = await tableFacts(c, ['public.orders', 'parted', 'missing']);
      expect([...facts.keys()].sort()).toEqual(['parted', 'public.orders']);
      const orders = facts.get('public.orders')!;
      expect(orders.partitioned).toBe(false);
      expect(orders.columns.map((x) => [x.name, x.type])).toEqual([
        ['id', 'integer'],
        ['status', 'text'],
        ['total', 'integer'],
      ]);
      const ck = catalogTable(orders).constraints.find((k) => k.name === 'ck_total_nn');
      expect(ck).toEqual({
        name: 'ck_total_nn',
        kind: 'check',
        validated: false,
        columns: ['total'],
        notNullOf: 'total',
      });
      expect(facts.get('parted')).toMatchObject({
        partitioned: true,
        columns: [{ name: 'id', nullable: false }],
      });
      await c.query('ALTER TABLE orders DROP CONSTRAINT ck_total_nn');
    });
  });

  test('ADD PRIMARY KEY USING INDEX on a nullable column makes it NOT NULL (the implicit SET NOT NULL)', async () => {
    await withClient(db, async (c) => {
      await c.query('CREATE UNIQUE INDEX orders_id_key ON orders (id)');
      await c.query('ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_id_key');
      const r = await c.query(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'",
      );
      expect(r.rows[0].attnotnull).toBe(true);
    });
  });
});

describe('run on the real harness', () => {
  const cli = path.join(repoRoot, 'dist/cli.js');
  const gate = (p: TempProject, db: TestDatabase, dumps: string) =>
    execa('node', [cli, 'run'], {
      cwd: p.dir,
      env: {
        DATABASE_URL: db.url,
        ALEMBIC_CONFIG: p.ini,
        MIGRATION_GATE_ALEMBIC: alembicBin(),
        MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
        MIGRATION_GATE_LOG_FORMAT: 'text',
        RENDER: '',
        MIGRATION_GATE_ALLOW: '',
        MIGRATION_GATE_ALLOW_REASON: '',
      },
      reject: false,
      all: true,
    });
  const dumpDir = () => {
    const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-dumps-'));
    cleanups.push(() => rmSync(dumps, { recursive: true, force: true }));
    return dumps;
  };

  test('the live catalog is the truth: a CHECK (col IS NOT NULL) added outside the migrations lets SET NOT NULL run', async () => {
    const db = await freshDb('pgcatalog');
    const p = tempProject([
      {
        id: 'k1',
        down: null,
        upgrade:
          "op.create_table('accounts', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('email', sa.Text()))",
      },
    ]);
    cleanups.push(() => p.cleanup());
    expect((await upgrade(p, db)).exitCode).toBe(0);
    await withClient(db, (c) =>
      c.query(
        "INSERT INTO accounts SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 500) g; ALTER TABLE accounts ADD CONSTRAINT accounts_email_nn CHECK (email IS NOT NULL)",
      ),
    );
    p.write({
      id: 'k2',
      down: 'k1',
      upgrade: "op.alter_column('accounts', 'email', existing_type=sa.Text(), nullable=False)",
    });
    // Without the database, the history alone cannot know about the check: a stop.
    const offline = await execa('node', [cli, 'check', '--config', p.ini, '--from', 'k1'], {
      cwd: p.dir,
      reject: false,
    });
    expect(offline.exitCode).toBe(2);
    expect(offline.stdout).toContain('set-not-null (breaking)');
    const res = await gate(p, db, dumpDir());
    expect(res.all).toContain('set-not-null-checked');
    expect(res.all).toContain('the validated CHECK accounts_email_nn already forbids NULLs');
    expect(res.exitCode).toBe(0);
    await withClient(db, async (c) => {
      const r = await c.query(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'email'",
      );
      expect(r.rows[0].attnotnull).toBe(true);
    });
  });

  test('a data-modifying CTE on an existing table is blocked, and the rows are still there', async () => {
    const db = await freshDb('pgcte');
    const p = tempProject([
      {
        id: 'c1',
        down: null,
        upgrade: "op.create_table('orders', sa.Column('id', sa.Integer(), primary_key=True))",
      },
    ]);
    cleanups.push(() => p.cleanup());
    expect((await upgrade(p, db)).exitCode).toBe(0);
    await withClient(db, (c) => c.query('INSERT INTO orders SELECT generate_series(1, 2000)'));
    p.write({
      id: 'c2',
      down: 'c1',
      upgrade: 'op.execute("WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d")',
    });
    const res = await gate(p, db, dumpDir());
    expect(res.exitCode).toBe(2);
    expect(res.all).toContain('delete rows from orders (every row, in a WITH clause)');
    expect(res.all).toContain('Blocked: 1 migration needs an override (c2 destructive)');
    await withClient(db, async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2000);
      expect((await c.query('SELECT version_num FROM alembic_version')).rows[0].version_num).toBe('c1');
    });
  });
});
