/**
 * Render's export as the safety dump: the Render API through nock (success, slow export, 429 with
 * reset, 401, never ready), the download from a loopback server (a real pg_dump directory archive
 * packed as Render packs it), copied into a real file dump target and verified.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { FailedError } from '../../src/errors.js';
import { loadSettings } from '../../src/config/settings.js';
import { RenderApi } from '../../src/render/api.js';
import { listRenderExports } from '../../src/render/dumps-list.js';
import { takeRenderExport, type RenderExportOptions } from '../../src/render/export.js';
import { FileDumpTarget } from '../../src/storage/file.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import {
  API_KEY,
  makeExportFile,
  PG_ID,
  RENDER,
  serveDownload,
  type Download,
} from '../helpers/render-api.js';

let db: TestDatabase;
let exportFile: Buffer;
let download: Download;
let dumps: string;

beforeAll(async () => {
  db = await createTestDatabase('render_export');
  await adminQuery(
    'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 100);',
    [],
    db.name,
  );
  exportFile = (await makeExportFile(db.url)).bytes;
  download = await serveDownload(exportFile);
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterAll(async () => {
  nock.enableNetConnect();
  // nock's interceptors patch Node's shared http module: leave it clean for the next test file in this worker.
  nock.restore();
  await download.close();
  await db.drop();
});
beforeEach(() => {
  dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-render-dumps-'));
  download.serve(exportFile);
});
afterEach(() => {
  nock.cleanAll();
  rmSync(dumps, { recursive: true, force: true });
});

/** A virtual clock: sleeping advances it, so waits are asserted, not sat through. */
function clock() {
  let t = Date.parse('2026-12-03T07:00:00Z');
  const waits: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    waits,
  };
}

function options(c: ReturnType<typeof clock>, extra: Partial<RenderExportOptions> = {}): RenderExportOptions {
  const lines: string[] = [];
  return {
    api: new RenderApi({ baseUrl: `${RENDER}/v1`, apiKey: API_KEY, sleep: c.sleep, now: c.now }),
    postgresId: PG_ID,
    timeoutMs: 900_000,
    sleep: c.sleep,
    now: c.now,
    sink: new FileDumpTarget(dumps),
    name: 'web/20261203T070000Z_a1_to_b2.dump',
    meta: { fromRevisions: ['a1'], toRevisions: ['b2'], service: 'web', createdAt: new Date() },
    info: (l) => lines.push(l),
    ...extra,
  };
}

const exportsPath = `/v1/postgres/${PG_ID}/export`;
const old = { id: 'exp-old', createdAt: '2026-12-01T00:00:00Z', url: 'https://example.invalid/old' };
const mine = (url?: string) => ({
  id: 'exp-new',
  createdAt: '2026-12-03T07:00:01Z',
  ...(url ? { url } : {}),
});

function sha(b: Buffer) {
  return createHash('sha256').update(b).digest('hex');
}

test('success: creates the export, waits for its URL, copies it to the target, verified by size and sha256', async () => {
  const c = clock();
  const scope = nock(RENDER, { reqheaders: { authorization: `Bearer ${API_KEY}` } })
    .get(exportsPath)
    .reply(200, [old])
    .post(exportsPath)
    .reply(202)
    .get(exportsPath)
    .reply(200, [old, mine()])
    .get(exportsPath)
    .reply(200, [old, mine(download.url)]);
  const res = await takeRenderExport(options(c));
  scope.done();
  expect(res).toMatchObject({
    exportId: 'exp-new',
    id: 'web/20261203T070000Z_a1_to_b2.dump',
    bytes: exportFile.length,
    sha256: sha(exportFile),
    copied: true,
  });
  expect(res.entries).toBeGreaterThan(2);
  const stored = readFileSync(path.join(dumps, 'web/20261203T070000Z_a1_to_b2.dump'));
  expect(sha(stored)).toBe(sha(exportFile));
  expect(c.waits).toEqual([5000]);
});

test('slow export: polls with a growing interval (never faster than every 5 s, at most every 30 s)', async () => {
  const c = clock();
  const scope = nock(RENDER).get(exportsPath).reply(200, []).post(exportsPath).reply(202);
  for (let i = 0; i < 6; i++) scope.get(exportsPath).reply(200, [mine()]);
  scope.get(exportsPath).reply(200, [mine(download.url)]);
  const res = await takeRenderExport(options(c, { sink: undefined }));
  scope.done();
  expect(c.waits).toEqual([5000, 10000, 20000, 30000, 30000, 30000]);
  expect(res).toMatchObject({
    copied: false,
    location: `render-export:${PG_ID}/exp-new`,
    bytes: exportFile.length,
  });
});

test('429: waits for Ratelimit-Reset, then goes on', async () => {
  const c = clock();
  const scope = nock(RENDER)
    .get(exportsPath)
    .reply(
      429,
      { message: 'rate limit' },
      { 'Ratelimit-Limit': '400', 'Ratelimit-Remaining': '0', 'Ratelimit-Reset': '17' },
    )
    .get(exportsPath)
    .reply(200, [])
    .post(exportsPath)
    .reply(202)
    .get(exportsPath)
    .reply(200, [mine(download.url)]);
  const res = await takeRenderExport(options(c));
  scope.done();
  expect(c.waits[0]).toBe(17_000);
  expect(res.exportId).toBe('exp-new');
});

test('401: a clear message that names RENDER_API_KEY and never shows the key', async () => {
  const c = clock();
  nock(RENDER).get(exportsPath).reply(401, { message: 'unauthorized' });
  const err = await takeRenderExport(options(c)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FailedError);
  expect((err as Error).message).toBe(
    `Render API GET /postgres/${PG_ID}/export refused the API key (HTTP 401) (unauthorized): RENDER_API_KEY is wrong, revoked, or belongs to a workspace without this database; create a key under Account Settings -> API Keys and set it on the service`,
  );
  expect((err as Error).message).not.toContain(API_KEY);
  expect(readdirSync(dumps)).toEqual([]);
});

test('never ready: gives up at the timeout with what to do, and nothing is stored', async () => {
  const c = clock();
  const scope = nock(RENDER).get(exportsPath).reply(200, []).post(exportsPath).reply(202);
  scope.get(exportsPath).times(100).reply(200, [mine()]);
  const err = await takeRenderExport(options(c, { timeoutMs: 120_000 })).catch((e: unknown) => e);
  expect((err as Error).message).toMatch(
    /^Render's export exp-new of dpg-cq1abc2def3ghi4jkl5m was not ready after 120s \(it may still finish; it is kept 7 days\); the migration did not run\. Raise MIGRATION_GATE_RENDER_EXPORT_TIMEOUT/,
  );
  // Waited exactly up to the deadline, polling a handful of times rather than hammering the API.
  expect(c.waits.reduce((a, b) => a + b, 0)).toBe(120_000);
  expect(c.waits.length).toBeLessThan(10);
  expect(readdirSync(dumps)).toEqual([]);
});

test('a download that is not a pg_dump archive is refused and its partial copy removed', async () => {
  const c = clock();
  download.serve(Buffer.from('<html>Access denied</html>'));
  nock(RENDER)
    .get(exportsPath)
    .reply(200, [])
    .post(exportsPath)
    .reply(202)
    .get(exportsPath)
    .reply(200, [mine(download.url)]);
  const err = await takeRenderExport(options(c)).catch((e: unknown) => e);
  expect((err as Error).message).toMatch(
    /^Render's export exp-new is not a readable \.tar\.gz \(.*\) after 26 bytes; the migration did not run$/,
  );
  expect(existsSync(path.join(dumps, 'web/20261203T070000Z_a1_to_b2.dump'))).toBe(false);
});

test('dumps lists Render exports (id from the internal host name dpg-<id>-a)', async () => {
  nock(RENDER).get(exportsPath).reply(200, [old, mine()]);
  const lines: string[] = [];
  const settings = loadSettings({
    DATABASE_URL: `postgresql://app:pw@${PG_ID}-a:5432/app`,
    RENDER_API_KEY: API_KEY,
  });
  expect(await listRenderExports(settings, (l) => lines.push(l), Date.parse('2026-12-03T09:00:01Z'))).toBe(
    true,
  );
  expect(lines).toEqual([
    `Render exports of ${PG_ID} (kept by Render for 7 days; newest first):`,
    '  exp-new  2026-12-03T07:00:01Z  2.0h ago  in progress',
    '  exp-old  2026-12-01T00:00:00Z  2d ago  ready',
  ]);
  // Without a key nothing is asked of Render.
  expect(
    await listRenderExports(
      loadSettings({ DATABASE_URL: `postgresql://app:pw@${PG_ID}-a/app` }),
      () => undefined,
    ),
  ).toBe(false);
});
