/// <reference lib="dom" />
/**
 * The status page in a real browser: Debian's Chromium, headless, driven by playwright-core, over
 * history written by real `migration-gate run`s (alembic, pg_dump) against the harness's PostgreSQL.
 * Sign in, see the latest run, refresh in place without losing the scroll position, open one run,
 * sign out; and the same page without JavaScript. Screenshots go to test-output/browser/ (printed).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startServe, type RunningServer } from '../../src/server/serve.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import {
  EXAMPLE_ADDITIVE,
  EXAMPLE_BASE,
  EXAMPLE_DESTRUCTIVE,
  exampleDir,
  repoRoot,
  tempProject,
  type TempProject,
} from '../helpers/project.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // CI installs it (scripts/setup.sh); a developer machine without it skips, saying why.
  console.warn(
    `server-browser: SKIPPED: ${CHROMIUM} not found; install it with: apt-get install -y chromium`,
  );
}
const maybe = haveChromium ? describe : describe.skip;

const cli = path.join(repoRoot, 'dist/cli.js');
const TOKEN = 'browser-' + 'q'.repeat(40);
const SCHEMA = 'migration_gate';
const shots = path.join(repoRoot, 'test-output', 'browser');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let db: TestDatabase;
let project: TempProject;
let dumps: string;
let serve: RunningServer;
const cleanups: Array<() => unknown> = [];

function gate() {
  return execa('node', [cli, 'run'], {
    cwd: project.dir,
    env: {
      DATABASE_URL: db.url,
      ALEMBIC_CONFIG: project.ini,
      MIGRATION_GATE_ALEMBIC: alembicBin(),
      MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
      RENDER: '',
      RENDER_SERVICE_NAME: 'window-builder',
      RENDER_GIT_COMMIT: 'c0ffee1234567890c0ffee1234567890c0ffee12',
      MIGRATION_GATE_ALLOW: '',
      MIGRATION_GATE_ALLOW_REASON: '',
    },
    reject: false,
    all: true,
  });
}

async function browser(opts: { javaScriptEnabled: boolean }): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'mg-chromium-'));
  cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1000, height: 700 },
    javaScriptEnabled: opts.javaScriptEnabled,
  });
  cleanups.push(() => context.close());
  return context;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, name), fullPage: true });

async function signIn(page: Page): Promise<void> {
  await page.goto(serve.url + '/status');
  await page.getByLabel('Status token (MIGRATION_GATE_STATUS_TOKEN)').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(serve.url + '/status');
}

maybe('status page in Chromium', () => {
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    console.log(`server-browser: screenshots in ${shots}`);
    db = await createTestDatabase('server_browser');
    dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-browser-dumps-'));
    project = tempProject([], { withExample: [EXAMPLE_BASE, EXAMPLE_ADDITIVE] });
    cleanups.push(
      () => db.drop(),
      () => project.cleanup(),
      () => rmSync(dumps, { recursive: true, force: true }),
    );
    await execa(alembicBin(), ['-c', project.ini, 'upgrade', '1a2b3c4d5e6f'], {
      cwd: project.dir,
      env: { DATABASE_URL: db.url },
    });
    // Real history: an additive deploy that migrates (with its dump), then a destructive one that blocks.
    const migrated = await gate();
    expect([migrated.exitCode, migrated.all]).toEqual([0, expect.stringContaining('Safety dump verified')]);
    const { copyFileSync } = await import('node:fs');
    copyFileSync(
      path.join(exampleDir, 'migrations/versions', EXAMPLE_DESTRUCTIVE),
      path.join(project.versions, EXAMPLE_DESTRUCTIVE),
    );
    const blocked = await gate();
    expect(blocked.exitCode).toBe(2);
    serve = await startServe({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      token: TOKEN,
      schema: SCHEMA,
      logger: quiet,
      cacheMs: 100,
    });
    cleanups.push(() => serve.close());
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('sign in, see the latest run, refresh in place, open a run, sign out', async () => {
    const context = await browser({ javaScriptEnabled: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The sign-in page is a 401 by design; anything else (a CSP refusal, a script error) is a failure.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text());
    });

    await page.goto(serve.url + '/status');
    await expect(page.getByRole('button', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await shot(page, '01-sign-in.png');

    // A wrong token first: the form again, with the reason.
    await page.getByLabel('Status token (MIGRATION_GATE_STATUS_TOKEN)').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('That is not the token');

    await signIn(page);
    const current = page.locator('section.current');
    await expect(current.textContent()).resolves.toMatch(
      /Blocked: 7c1e2d9a0b3f .*MIGRATION_GATE_ALLOW=7c1e2d9a0b3f/,
    );
    // Blocked is amber; the relative time has the exact time on hover.
    await expect(current.getAttribute('class')).resolves.toBe('current warn');
    const pillColor = await current
      .locator('.pill.p-blocked')
      .evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(pillColor).toBe('rgb(246, 173, 85)');
    const destructive = await page
      .locator('.pill.p-destructive')
      .first()
      .evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(destructive).toBe('rgb(197, 48, 48)');
    const started = current.locator('time');
    await expect(started.textContent()).resolves.toMatch(/ago|just now/);
    await expect(started.getAttribute('title')).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['mg_session', true, 'Strict']]);
    expect(cookies[0]!.value).not.toContain(TOKEN);
    await shot(page, '02-status.png');

    // Refresh in place: a new run appears, the scroll position stays.
    await page.setViewportSize({ width: 1000, height: 400 });
    await page.evaluate(() => window.scrollTo(0, 500));
    const before = await page.evaluate(() => window.scrollY);
    expect(before).toBeGreaterThan(0);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO ${SCHEMA}.runs (command, outcome, decision, finished_at, service) VALUES ('run', 'noop', 'noop', now(), 'window-builder') RETURNING id`,
    );
    await c.end();
    await new Promise((r) => setTimeout(r, 300)); // past the 100 ms cache
    await page.evaluate(() =>
      (window as unknown as { migrationGateRefresh: () => Promise<void> }).migrationGateRefresh(),
    );
    await expect(page.locator(`a[href="/status/runs/${rows[0]!.id}"]`).first().isVisible()).resolves.toBe(
      true,
    );
    await expect(page.locator('section.current').textContent()).resolves.toMatch(/^\s*noop/);
    expect(await page.evaluate(() => window.scrollY)).toBe(before);
    await page.setViewportSize({ width: 1000, height: 700 });

    // Open the migrated run: its dump and its way back.
    await page.locator('table a', { hasText: '#1' }).first().click();
    await page.waitForURL(serve.url + '/status/runs/1');
    const body = await page.locator('main').textContent();
    expect(body).toContain('migration-gate run #1');
    expect(body).toMatch(/Migrated: applied 1 migration \(fd4af8236c7d\)/);
    expect(body).toMatch(/migration-gate restore --dump \S+ --yes/);
    expect(body).toContain('migration-gate rollback --yes');
    await shot(page, '03-run.png');

    await page.getByRole('button', { name: 'sign out' }).first().click();
    await page.waitForURL(serve.url + '/status');
    await expect(page.getByRole('button', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    expect(await context.cookies()).toEqual([]);
    await shot(page, '04-signed-out.png');
    expect(errors).toEqual([]);
  });

  test('without JavaScript: sign-in works, the page is complete, a meta refresh keeps it current', async () => {
    const context = await browser({ javaScriptEnabled: false });
    const page = await context.newPage();
    await signIn(page);
    await expect(page.locator('section.current').textContent()).resolves.toMatch(/noop|Blocked/);
    await expect(page.locator('table').count()).resolves.toBeGreaterThan(1);
    await expect(page.locator('noscript').innerHTML()).resolves.toContain(
      'http-equiv="refresh" content="30"',
    );
    await shot(page, '05-no-javascript.png');
  });
});
