import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  mkdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { execa } from 'execa';
import { ConfigError, FailedError } from '../../src/errors.js';
import { parseDatabaseUrl } from '../../src/db/connect.js';
import {
  checkDumpCompatible,
  pgToolVersion,
  takeSafetyDump,
  type SafetyDumpOptions,
} from '../../src/db/dump.js';
import { FileDumpTarget } from '../../src/storage/file.js';
import { openDumpTarget } from '../../src/storage/index.js';
import type { DumpMeta, DumpTarget, StoredDump } from '../../src/storage/target.js';
import {
  adminQuery,
  createTestDatabase,
  getTestServer,
  serverUrl,
  type TestDatabase,
} from '../harness/pg.js';

let db: TestDatabase;
let restored: TestDatabase;
let dir: string;
const meta: DumpMeta = { fromRevisions: ['a1'], toRevisions: ['b2'], service: 'web', createdAt: new Date() };

beforeAll(async () => {
  db = await createTestDatabase('db_dump');
  restored = await createTestDatabase('db_dump_restored');
  await adminQuery(
    `CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);
     INSERT INTO users SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 3000) g;
     CREATE TABLE orders (id serial PRIMARY KEY, user_id int REFERENCES users, total numeric);
     INSERT INTO orders (user_id, total) SELECT 1 + g % 3000, g * 1.5 FROM generate_series(1, 7000) g;
     CREATE TABLE big (id int, payload text);
     INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5(random()::text) FROM generate_series(1, 150000) g;`,
    [],
    db.name,
  );
});
afterAll(async () => {
  await db?.drop();
  await restored?.drop();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mg-dumps-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under `dir` (relative paths), including hidden and partial ones. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(root.length + 1))
    .sort();
}

function opts(sink: DumpTarget, extra: Partial<SafetyDumpOptions> = {}): SafetyDumpOptions {
  return {
    target: parseDatabaseUrl(db.url),
    sink,
    name: 'web/20260101T000000Z_a1_to_b2.dump',
    meta,
    ...extra,
  };
}

async function dumpError(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the dump to fail');
}

/** Passes the first `after` bytes through, then holds the stream (back-pressure reaches pg_dump). */
class StallingTarget implements DumpTarget {
  readonly description: string;
  constructor(
    private readonly inner: DumpTarget,
    private readonly after: number,
  ) {
    this.description = inner.description;
  }
  preflight() {
    return this.inner.preflight();
  }
  put(name: string, body: Readable, m: DumpMeta, signal?: AbortSignal): Promise<StoredDump> {
    let seen = 0;
    const after = this.after;
    const gate = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen <= after) cb(null, chunk); // beyond that, never call back: stalled
      },
    });
    pipeline(body, gate, () => undefined);
    return this.inner.put(name, gate, m, signal);
  }
  list() {
    return this.inner.list();
  }
  get(id: string) {
    return this.inner.get(id);
  }
  remove(id: string) {
    return this.inner.remove(id);
  }
  sweep(olderThan: Date) {
    return this.inner.sweep(olderThan);
  }
  writeNote(name: string, text: string) {
    return this.inner.writeNote(name, text);
  }
  readNotes(limit: number) {
    return this.inner.readNotes(limit);
  }
  removeNote(name: string) {
    return this.inner.removeNote(name);
  }
}

describe('pg tool versions', () => {
  it('reads pg_dump and pg_restore versions', async () => {
    const v = await pgToolVersion('pg_dump');
    expect(v.major).toBeGreaterThanOrEqual(12);
    expect(v.text).toMatch(/^\d+\.\d+/);
    expect((await pgToolVersion('pg_restore')).major).toBe(v.major);
  });

  it('says how to install a missing pg_dump', async () => {
    const err = await dumpError(pgToolVersion('/nonexistent/pg_dump', 16));
    expect(err).toBeInstanceOf(FailedError);
    expect(err.message).toContain('/nonexistent/pg_dump was not found');
    expect(err.message).toContain('apt-get install postgresql-client-16');
  });

  it('refuses a pg_dump older than the server', () => {
    expect(() => checkDumpCompatible(14, 150018, '14.11')).toThrow(
      /^pg_dump 14\.11 cannot dump a PostgreSQL 15 server: install postgresql-client-15/,
    );
    expect(() => checkDumpCompatible(16, 150018)).not.toThrow();
    expect(() => checkDumpCompatible(15, 150018)).not.toThrow();
  });
});

describe('takeSafetyDump', () => {
  it('streams a verified dump to a file target that restores to the same rows', async () => {
    const sink = await openDumpTarget(`file://${dir}`);
    const progress: Array<{ bytes: number; table?: string }> = [];
    const res = await takeSafetyDump(
      opts(sink, { progressEveryMs: 10, onProgress: (p) => progress.push(p) }),
    );

    const file = join(dir, 'web', '20260101T000000Z_a1_to_b2.dump');
    const content = readFileSync(file);
    expect(res).toMatchObject({ id: 'web/20260101T000000Z_a1_to_b2.dump', location: `file://${file}` });
    expect(res.bytes).toBe(content.length);
    expect(res.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    expect(res.tocEntries).toBeGreaterThan(5);
    expect(res.durationMs).toBeGreaterThan(0);
    expect(filesUnder(dir)).toEqual([
      'web/20260101T000000Z_a1_to_b2.dump',
      'web/20260101T000000Z_a1_to_b2.dump.json',
    ]);
    const sidecar = JSON.parse(readFileSync(file + '.json', 'utf8'));
    expect(sidecar).toMatchObject({
      bytes: res.bytes,
      sha256: res.sha256,
      meta: { service: 'web', fromRevisions: 'a1' },
    });

    const listed = await sink.list();
    expect(listed.map((d) => [d.id, d.bytes, d.sha256])).toEqual([[res.id, res.bytes, res.sha256]]);

    // Restore into another database: same rows.
    const env = parseDatabaseUrl(restored.url).libpqEnv();
    const r = await execa('pg_restore', ['--no-owner', `--dbname=${restored.name}`, file], {
      env,
      reject: false,
    });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const count = async (name: string) =>
      (
        await adminQuery<{ n: string }>(
          "SELECT (SELECT count(*) FROM users) || ',' || (SELECT count(*) FROM orders) || ',' || (SELECT count(*) FROM big) AS n",
          [],
          name,
        )
      )[0]!.n;
    expect(await count(restored.name)).toBe(await count(db.name));
    expect(await count(restored.name)).toBe('3000,7000,150000');
  });

  it('removes everything when pg_dump is killed mid-dump', async () => {
    const sink = new StallingTarget(new FileDumpTarget(dir), 200_000);
    let pid = 0;
    let killed = false;
    const err = await dumpError(
      takeSafetyDump(
        opts(sink, {
          progressEveryMs: 10,
          onStart: (p) => (pid = p.pid),
          onProgress: (p) => {
            if (!killed && p.table === 'public.big' && p.bytes > 200_000) {
              killed = true;
              process.kill(pid, 'SIGKILL');
            }
          },
        }),
      ),
    );
    expect(killed).toBe(true);
    expect(err).toBeInstanceOf(FailedError);
    expect(err.message).toMatch(
      /^safety dump failed: pg_dump was killed \(SIGKILL\) after [\d.]+ (KB|MB), while dumping table public\.big; the partial dump was removed$/,
    );
    expect(filesUnder(dir)).toEqual([]);
  });

  it('stops and cleans up when the caller aborts', async () => {
    const sink = new StallingTarget(new FileDumpTarget(dir), 200_000);
    const ac = new AbortController();
    const err = await dumpError(
      takeSafetyDump(
        opts(sink, {
          signal: ac.signal,
          progressEveryMs: 10,
          onProgress: (p) => {
            if (p.bytes > 200_000) ac.abort(new Error('SIGTERM'));
          },
        }),
      ),
    );
    expect(err).toBeInstanceOf(FailedError);
    expect(err.message).toMatch(/^safety dump interrupted after .*; the partial dump was removed$/);
    expect(filesUnder(dir)).toEqual([]);
  });

  it('fails cleanly when the target directory cannot be created', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const err = await dumpError(takeSafetyDump(opts(new FileDumpTarget(join(blocker, 'dumps')))));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`dump directory ${join(blocker, 'dumps')} cannot be created`);
    expect(filesUnder(dir)).toEqual(['not-a-dir']);
  });

  it('fails cleanly when the disk fills up mid-write (ENOSPC), leaving no partial file', async () => {
    mkdirSync(join(dir, 'web'));
    // The partial file is a link to /dev/full: every write fails with ENOSPC.
    symlinkSync('/dev/full', join(dir, 'web', '20260101T000000Z_a1_to_b2.dump.partial'));
    const err = await dumpError(takeSafetyDump(opts(new FileDumpTarget(dir))));
    expect(err).toBeInstanceOf(FailedError);
    expect(err.message).toContain(`safety dump failed writing to file://${dir}:`);
    expect(err.message).toContain('no space left on device (ENOSPC)');
    expect(filesUnder(dir)).toEqual([]);
  });

  (process.getuid?.() === 0 ? it.skip : it)(
    'fails cleanly when the directory is read-only (EACCES)',
    async () => {
      const { chmodSync } = await import('node:fs');
      chmodSync(dir, 0o500);
      try {
        const err = await dumpError(takeSafetyDump(opts(new FileDumpTarget(dir))));
        expect(err.message).toContain('is not writable: permission denied (EACCES)');
      } finally {
        chmodSync(dir, 0o700);
      }
      expect(filesUnder(dir)).toEqual([]);
    },
  );

  it('names a missing pg_dump binary', async () => {
    const err = await dumpError(
      takeSafetyDump(opts(new FileDumpTarget(dir), { pgDump: '/nonexistent/bin/pg_dump' })),
    );
    expect(err).toBeInstanceOf(FailedError);
    expect(err.message).toContain('/nonexistent/bin/pg_dump was not found');
    expect(err.message).toContain('postgresql-client');
    expect(filesUnder(dir)).toEqual([]);
  });

  it('reports pg_dump failing to connect without the password', async () => {
    const s = getTestServer();
    const target = parseDatabaseUrl(serverUrl(db.name, { password: 'not-the-password' }));
    const err = await dumpError(takeSafetyDump({ ...opts(new FileDumpTarget(dir)), target }));
    expect(err.message).toMatch(
      /^safety dump failed: pg_dump exited with code 1 after 0 B: .*password authentication failed/,
    );
    expect(err.message).not.toContain('not-the-password');
    expect(err.message).not.toContain(s.password);
    expect(filesUnder(dir)).toEqual([]);
  });
});
