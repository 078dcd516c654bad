/**
 * Issue 14: a long history's facts are kept small. Migrations below the judged ones are extracted for
 * replay only and kept serialized; imports are found in every statement block without walking
 * expressions. Each behaviour here is what the classifier sees, so a shortcut that loses facts fails.
 */
import { bodyOf, hasBody, packBody } from '../../src/alembic/packed.js';
import { parseMigrationSource } from '../../src/alembic/scripts.js';
import { extractBody, extractReplayBody } from '../../src/classify/extract.js';
import { classifyMigrations, initClassifier, replay } from '../../src/classify/index.js';
import { migration, scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const SOURCE = migration(
  `op.add_column("users", sa.Column("age", sa.Integer(), nullable=True))
op.execute("ALTER TABLE users ADD CONSTRAINT age_nn CHECK (age IS NOT NULL)")`,
  {
    pre: '# migration-gate: allow drop-column -- the column was unused',
    downgrade: 'op.drop_column("users", "age")',
  },
);

test('a packed body unpacks to the same facts, anew on each call', () => {
  const script = parseMigrationSource(SOURCE, '/p/versions/a1.py', 'versions/a1.py', { body: extractBody });
  const packed = { ...script, body: undefined, packedBody: packBody(script.body!) };
  delete packed.body;
  const first = bodyOf(packed)!;
  expect(first).toEqual(script.body);
  expect(bodyOf(packed)).not.toBe(first);
  expect(hasBody(packed, 'full')).toBe(true);
  expect(classifyMigrations([packed])).toEqual(classifyMigrations([script]));
  // No imported function is called: the helper follower need not unpack it.
  expect(packed.packedBody.helpers).toBe(false);
});

test('a packed body that calls an imported function says so (the helper follower unpacks only those)', () => {
  const calls = parseMigrationSource(
    migration('drop_legacy(op)', { pre: 'from myapp.util import drop_legacy' }),
    '/p/versions/a2.py',
    'versions/a2.py',
    { body: extractBody, pack: true },
  );
  expect(calls.packedBody!.helpers).toBe(true);
});

test('a replay body holds upgrade() only; it serves a replay, and classifying it is refused', () => {
  const script = parseMigrationSource(SOURCE, '/p/versions/a1.py', 'versions/a1.py', {
    body: extractReplayBody,
    pack: true,
  });
  expect(script.body).toBeUndefined();
  const body = bodyOf(script)!;
  expect(body).toMatchObject({ replayOnly: true, allows: [], allowProblems: [] });
  expect(body.downgrade).toBeUndefined();
  expect(body.upgrade!.map((o) => o.kind)).toEqual(['op', 'sql']);
  expect(hasBody(script, 'replay')).toBe(true);
  expect(hasBody(script, 'full')).toBe(false);
  // The replay sees what upgrade() did: the column and its validated NOT NULL check.
  const model = replay([script]);
  expect(model.column('users', 'age')).toBeDefined();
  expect(model.notNullCheck('users', 'age')).toBeDefined();
  expect(() => classifyMigrations([script])).toThrow(/classified before its full body was loaded/);
});

test('imports inside nested blocks of upgrade() are still found', () => {
  const nested = scriptFromUpgrade(
    `try:
    from app.data import backfill
except ImportError:
    backfill = None
if True:
    from alembic import op as o
o.drop_table("legacy")
backfill(op.get_bind())`,
  );
  const c = classifyMigrations([nested])[0]!;
  expect(c.findings.map((f) => f.rule)).toEqual(['drop-table', 'external-call']);
});
