import { createServer } from 'node:net';
import { FailedError, ConfigError } from '../../src/errors.js';
import { connect, parseDatabaseUrl, redact } from '../../src/db/connect.js';
import {
  adminQuery,
  createTestDatabase,
  getTestServer,
  serverUrl,
  type TestDatabase,
} from '../harness/pg.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('db_connect');
});
afterAll(async () => {
  await db?.drop();
});

async function connectError(url: string, connectTimeoutMs = 5000): Promise<FailedError> {
  const target = parseDatabaseUrl(url);
  try {
    const client = await connect(target, { connectTimeoutMs });
    await client.end();
  } catch (err) {
    expect(err).toBeInstanceOf(FailedError);
    return err as FailedError;
  }
  throw new Error('expected the connection to fail');
}

describe('parseDatabaseUrl', () => {
  it('accepts postgres, postgresql and SQLAlchemy driver URLs', () => {
    const forms = [
      'postgres://u:p@h.example:5433/app',
      'postgresql://u:p@h.example:5433/app',
      'postgresql+psycopg2://u:p@h.example:5433/app',
      'postgresql+psycopg://u:p@h.example:5433/app',
      'postgresql+asyncpg://u:p@h.example:5433/app',
    ];
    for (const url of forms) {
      const t = parseDatabaseUrl(url);
      expect([t.host, t.port, t.database, t.user, t.password]).toEqual(['h.example', 5433, 'app', 'u', 'p']);
      expect(t.redacted).not.toContain(':p@');
      expect(t.redacted).toContain('u:***@h.example');
    }
    expect(parseDatabaseUrl('postgres://u:p@h/app').sqlalchemyUrl).toBe('postgresql://u:p@h/app');
    expect(parseDatabaseUrl('postgresql+psycopg2://u:p@h/app').sqlalchemyUrl).toBe(
      'postgresql+psycopg2://u:p@h/app',
    );
  });

  it('decodes percent-encoded passwords and exposes them only through libpq env', () => {
    const t = parseDatabaseUrl('postgresql://app:s%40cr%2Ft@db.internal/prod?sslmode=require');
    expect(t.password).toBe('s@cr/t');
    expect(t.port).toBe(5432);
    expect(t.sslmode).toBe('require');
    expect(t.ssl).toMatchObject({ rejectUnauthorized: false });
    expect(t.libpqEnv()).toEqual({
      PGHOST: 'db.internal',
      PGPORT: '5432',
      PGUSER: 'app',
      PGPASSWORD: 's@cr/t',
      PGDATABASE: 'prod',
      PGSSLMODE: 'require',
    });
    expect(t.redacted).toBe('postgresql://app:***@db.internal/prod?sslmode=require');
  });

  it('maps sslmode to TLS options', () => {
    expect(parseDatabaseUrl('postgresql://u@h/d?sslmode=disable').ssl).toBe(false);
    expect(parseDatabaseUrl('postgresql://u@h/d?sslmode=verify-full').ssl).toMatchObject({
      rejectUnauthorized: true,
    });
    expect(parseDatabaseUrl('postgresql://u@h/d').sslmode).toBeUndefined();
    expect(() => parseDatabaseUrl('postgresql://u@h/d?sslmode=sometimes')).toThrow(ConfigError);
  });

  it('rejects other schemes and junk without echoing the password', () => {
    for (const url of [
      'mysql://root:hunter2@h/db',
      'not a url hunter2',
      'postgresql://u:hunter2@h:99999/db',
    ]) {
      let err: unknown;
      try {
        parseDatabaseUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('redacts secrets and URL passwords in arbitrary text', () => {
    const text =
      'failed: postgresql://app:topsecret@h/db and password=topsecret and raw topsecret, s3://k:v@b';
    const out = redact(text, ['topsecret']);
    expect(out).not.toContain('topsecret');
    expect(out).toContain('postgresql://app:***@h/db');
    expect(out).toContain('s3://k:***@b');
  });
});

describe('connect', () => {
  it('connects with the right password and sets application_name', async () => {
    const client = await connect(parseDatabaseUrl(db.url), { applicationName: 'mg-test' });
    try {
      const { rows } = await client.query(
        "SELECT current_database() AS db, current_setting('application_name') AS app",
      );
      expect(rows[0]).toEqual({ db: db.name, app: 'mg-test' });
    } finally {
      await client.end();
    }
  });

  it('works with a SQLAlchemy URL (driver stripped)', async () => {
    const client = await connect(parseDatabaseUrl(db.url.replace('postgresql://', 'postgresql+psycopg2://')));
    await client.end();
  });

  it('reports a wrong password without the password', async () => {
    const s = getTestServer();
    const err = await connectError(serverUrl(db.name, { password: 'wrong-pass-123' }));
    expect(err.message).toContain('password authentication failed');
    expect(err.message).toContain(`127.0.0.1:${s.port}/${db.name}`);
    expect(err.message).toContain(`user "${s.user}"`);
    expect(err.message).not.toContain('wrong-pass-123');
    expect(err.message).not.toContain(s.password);
  });

  it('reports a missing database', async () => {
    const err = await connectError(serverUrl('no_such_db_here'));
    expect(err.message).toMatch(/database "no_such_db_here" does not exist/);
  });

  it('reports a missing role', async () => {
    const err = await connectError(serverUrl(db.name, { user: 'ghost_role' }));
    // PostgreSQL answers a missing role with the password failure (not to reveal which roles exist).
    expect(err.message).toMatch(/password authentication failed|role "ghost_role" does not exist/);
    expect(err.message).toContain('user "ghost_role"');
  });

  it('reports a refused port', async () => {
    // A port nobody listens on: bind one, then close it.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const err = await connectError(serverUrl(db.name, { port }));
    expect(err.message).toContain(`connection refused by 127.0.0.1:${port}`);
    expect(err.message).toContain('is the server running');
  });

  it('reports a timeout when the server never answers', async () => {
    // A socket that accepts and stays silent behaves like a black-holed host.
    const sockets: import('node:net').Socket[] = [];
    const srv = createServer((s) => sockets.push(s));
    const port = await new Promise<number>((resolve) =>
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)),
    );
    try {
      const started = Date.now();
      const err = await connectError(serverUrl(db.name, { port }) + '?sslmode=disable', 300);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(err.message).toMatch(/no answer within 0\.3s/);
    } finally {
      sockets.forEach((s) => s.destroy());
      srv.close();
    }
  });

  it('reports an unresolvable host', async () => {
    const err = await connectError('postgresql://u:p@no-such-host.invalid:5432/db');
    expect(err.message).toContain('"no-such-host.invalid" does not resolve');
  });

  it('reports TLS required by the server, and TLS not supported by it', async () => {
    await adminQuery("DROP ROLE IF EXISTS mg_tls_only; CREATE ROLE mg_tls_only LOGIN PASSWORD 'x'");
    const required = await connectError(
      serverUrl(db.name, { user: 'mg_tls_only', password: 'x' }) + '?sslmode=disable',
    );
    expect(required.message).toContain('requires TLS');
    expect(required.message).toContain('sslmode=require');

    const unsupported = await connectError(serverUrl(db.name) + '?sslmode=require');
    expect(unsupported.message).toContain('the server does not support it');

    // Default (prefer) falls back to plain when the server has no TLS, like libpq.
    const client = await connect(parseDatabaseUrl(serverUrl(db.name)));
    await client.end();
  });

  it('reports too many connections', async () => {
    await adminQuery(
      "DROP ROLE IF EXISTS mg_one_conn; CREATE ROLE mg_one_conn LOGIN PASSWORD 'x' CONNECTION LIMIT 1",
    );
    const first = await connect(parseDatabaseUrl(serverUrl(db.name, { user: 'mg_one_conn', password: 'x' })));
    try {
      const err = await connectError(serverUrl(db.name, { user: 'mg_one_conn', password: 'x' }));
      expect(err.message).toContain('too many connections');
      expect(err.message).toContain('close idle connections');
    } finally {
      await first.end();
    }
  });
});
