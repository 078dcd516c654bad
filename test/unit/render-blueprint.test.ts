/**
 * The example app's Render Blueprint (render.yaml at the repository root), checked against the field
 * names and types of Render's Blueprint spec (https://render.com/docs/blueprint-spec), plus the
 * migration-gate wiring the README promises.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTINGS } from '../../src/config/settings.js';

const exampleDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../examples/window-builder',
);
const blueprintPath = path.join(exampleDir, '../../render.yaml');

type Obj = Record<string, unknown>;

const ROOT_KEYS = ['services', 'databases', 'envVarGroups', 'previews', 'projects', 'ungrouped'];
const SERVICE_TYPES = ['web', 'pserv', 'worker', 'cron', 'keyvalue', 'redis'];
const RUNTIMES = ['node', 'python', 'ruby', 'go', 'rust', 'elixir', 'docker', 'image', 'static'];
const SERVICE_KEYS = [
  'type',
  'name',
  'runtime',
  'repo',
  'branch',
  'rootDir',
  'plan',
  'previewPlan',
  'region',
  'numInstances',
  'scaling',
  'buildCommand',
  'preDeployCommand',
  'startCommand',
  'dockerCommand',
  'dockerfilePath',
  'dockerContext',
  'registryCredential',
  'image',
  'healthCheckPath',
  'envVars',
  'autoDeploy',
  'autoDeployTrigger',
  'buildFilter',
  'domains',
  'disk',
  'maxShutdownDelaySeconds',
  'schedule',
  'staticPublishPath',
  'headers',
  'routes',
  'previews',
  'ipAllowList',
  'maxmemoryPolicy',
];
const STRING_SERVICE_KEYS = [
  'name',
  'repo',
  'branch',
  'rootDir',
  'plan',
  'region',
  'buildCommand',
  'preDeployCommand',
  'startCommand',
  'healthCheckPath',
  'schedule',
];
const DATABASE_KEYS = [
  'name',
  'plan',
  'previewPlan',
  'region',
  'databaseName',
  'user',
  'postgresMajorVersion',
  'diskSizeGB',
  'ipAllowList',
  'readReplicas',
  'highAvailability',
  'previews',
];
const FROM_DATABASE_PROPERTIES = ['connectionString', 'host', 'port', 'user', 'password', 'database'];
const FROM_SERVICE_PROPERTIES = ['host', 'port', 'hostport', 'connectionString'];
const ENV_SOURCES = ['value', 'fromDatabase', 'fromService', 'generateValue', 'sync'] as const;
/** Optional next to a source: the value a preview environment gets instead. */
const ENV_EXTRA_KEYS = ['previewValue'];
const REGIONS = ['oregon', 'ohio', 'virginia', 'frankfurt', 'singapore'];
const SERVICE_PLANS = ['free', 'starter', 'standard', 'pro', 'pro plus', 'pro max', 'pro ultra'];
/** Native runtimes build and start from commands; docker and image runtimes bring their own. */
const NATIVE_RUNTIMES = ['node', 'python', 'ruby', 'go', 'rust', 'elixir'];

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Obj, known: string[]): string[] {
  return Object.keys(o).filter((k) => !known.includes(k));
}

/** Every problem with the Blueprint's structure, as `where: what` lines; empty when it matches the spec. */
function validateBlueprint(doc: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(doc)) return ['root: not a mapping'];
  for (const k of unknownKeys(doc, ROOT_KEYS)) problems.push(`root: unknown key ${k}`);

  const databases = doc.databases ?? [];
  const dbNames = new Set<string>();
  if (!Array.isArray(databases)) problems.push('databases: not a list');
  else
    databases.forEach((db, i) => {
      const where = `databases[${i}]`;
      if (!isObj(db)) return problems.push(`${where}: not a mapping`);
      for (const k of unknownKeys(db, DATABASE_KEYS)) problems.push(`${where}: unknown key ${k}`);
      if (typeof db.name !== 'string' || db.name === '')
        problems.push(`${where}: name must be a non-empty string`);
      else if (dbNames.has(db.name)) problems.push(`${where}: duplicate name ${db.name}`);
      else dbNames.add(db.name);
      // The spec types the version as a string ("15"); an unquoted 15 is a YAML number.
      if (db.postgresMajorVersion !== undefined && typeof db.postgresMajorVersion !== 'string')
        problems.push(`${where}: postgresMajorVersion must be a string`);
      for (const k of ['plan', 'region', 'databaseName', 'user'])
        if (db[k] !== undefined && typeof db[k] !== 'string')
          problems.push(`${where}: ${k} must be a string`);
      if (db.region !== undefined && !REGIONS.includes(String(db.region)))
        problems.push(`${where}: region must be one of ${REGIONS.join(', ')}`);
      return undefined;
    });

  const services = doc.services ?? [];
  const serviceNames = new Set<string>();
  if (!Array.isArray(services)) problems.push('services: not a list');
  else
    services.forEach((svc, i) => {
      const where = `services[${i}]`;
      if (!isObj(svc)) return problems.push(`${where}: not a mapping`);
      for (const k of unknownKeys(svc, SERVICE_KEYS)) problems.push(`${where}: unknown key ${k}`);
      if (typeof svc.type !== 'string' || !SERVICE_TYPES.includes(svc.type))
        problems.push(`${where}: type must be one of ${SERVICE_TYPES.join(', ')}`);
      if (typeof svc.name !== 'string' || svc.name === '')
        problems.push(`${where}: name must be a non-empty string`);
      else if (serviceNames.has(svc.name)) problems.push(`${where}: duplicate name ${svc.name}`);
      else serviceNames.add(svc.name);
      if (svc.type !== 'keyvalue' && svc.type !== 'redis') {
        if (typeof svc.runtime !== 'string' || !RUNTIMES.includes(svc.runtime))
          problems.push(`${where}: runtime must be one of ${RUNTIMES.join(', ')}`);
      }
      for (const k of STRING_SERVICE_KEYS)
        if (svc[k] !== undefined && typeof svc[k] !== 'string')
          problems.push(`${where}: ${k} must be a string`);
      if (typeof svc.healthCheckPath === 'string' && !svc.healthCheckPath.startsWith('/'))
        problems.push(`${where}: healthCheckPath must start with /`);
      if (svc.preDeployCommand !== undefined && !['web', 'pserv', 'worker'].includes(String(svc.type)))
        problems.push(`${where}: preDeployCommand is only for web, pserv and worker services`);
      if (svc.healthCheckPath !== undefined && svc.type !== 'web')
        problems.push(`${where}: healthCheckPath is only for web services`);
      if (svc.region !== undefined && !REGIONS.includes(String(svc.region)))
        problems.push(`${where}: region must be one of ${REGIONS.join(', ')}`);
      if (svc.plan !== undefined && !SERVICE_PLANS.includes(String(svc.plan)))
        problems.push(`${where}: plan must be one of ${SERVICE_PLANS.join(', ')}`);
      if (NATIVE_RUNTIMES.includes(String(svc.runtime)))
        for (const k of ['buildCommand', 'startCommand'])
          if (typeof svc[k] !== 'string' || svc[k] === '')
            problems.push(`${where}: a ${String(svc.runtime)} service needs ${k}`);
      if (svc.type === 'cron' && typeof svc.schedule !== 'string')
        problems.push(`${where}: a cron job needs schedule`);
      if (svc.envVars !== undefined)
        problems.push(...validateEnvVars(svc.envVars, `${where}.envVars`, dbNames));
      return undefined;
    });
  return problems;
}

function validateEnvVars(envVars: unknown, where: string, dbNames: Set<string>): string[] {
  if (!Array.isArray(envVars)) return [`${where}: not a list`];
  const problems: string[] = [];
  const keys = new Set<string>();
  envVars.forEach((ev, i) => {
    const at = `${where}[${i}]`;
    if (!isObj(ev)) return problems.push(`${at}: not a mapping`);
    if ('fromGroup' in ev) {
      if (Object.keys(ev).length !== 1) problems.push(`${at}: fromGroup takes no other fields`);
      return undefined;
    }
    const known = ['key', ...ENV_SOURCES, ...ENV_EXTRA_KEYS];
    for (const k of unknownKeys(ev, known)) problems.push(`${at}: unknown key ${k}`);
    if (typeof ev.key !== 'string' || ev.key === '') problems.push(`${at}: key must be a non-empty string`);
    else if (keys.has(ev.key)) problems.push(`${at}: duplicate key ${ev.key}`);
    else keys.add(ev.key);
    const sources = ENV_SOURCES.filter((s) => s in ev);
    if (sources.length !== 1)
      problems.push(
        `${at}: needs exactly one of ${ENV_SOURCES.join('/')}, has ${sources.join(', ') || 'none'}`,
      );
    if ('value' in ev && !['string', 'number', 'boolean'].includes(typeof ev.value))
      problems.push(`${at}: value must be a scalar`);
    if ('generateValue' in ev && ev.generateValue !== true)
      problems.push(`${at}: generateValue must be true`);
    if ('sync' in ev && ev.sync !== false) problems.push(`${at}: sync must be false`);
    if ('fromDatabase' in ev) {
      const fd = ev.fromDatabase;
      if (!isObj(fd)) problems.push(`${at}: fromDatabase must be a mapping`);
      else {
        for (const k of unknownKeys(fd, ['name', 'property']))
          problems.push(`${at}: fromDatabase has unknown key ${k}`);
        if (typeof fd.name !== 'string' || !dbNames.has(fd.name))
          problems.push(`${at}: fromDatabase.name ${String(fd.name)} is not a declared database`);
        if (typeof fd.property !== 'string' || !FROM_DATABASE_PROPERTIES.includes(fd.property))
          problems.push(`${at}: fromDatabase.property must be one of ${FROM_DATABASE_PROPERTIES.join(', ')}`);
      }
    }
    if ('fromService' in ev) {
      const fs = ev.fromService;
      if (!isObj(fs) || typeof fs.name !== 'string' || typeof fs.type !== 'string')
        problems.push(`${at}: fromService needs name and type`);
      else if (('property' in fs ? 1 : 0) + ('envVarKey' in fs ? 1 : 0) !== 1)
        problems.push(`${at}: fromService needs exactly one of property/envVarKey`);
      else {
        if (!SERVICE_TYPES.includes(fs.type))
          problems.push(`${at}: fromService.type must be one of ${SERVICE_TYPES.join(', ')}`);
        if ('property' in fs && !FROM_SERVICE_PROPERTIES.includes(String(fs.property)))
          problems.push(`${at}: fromService.property must be one of ${FROM_SERVICE_PROPERTIES.join(', ')}`);
      }
    }
    return undefined;
  });
  return problems;
}

/** Whitespace-split words of a command, refusing anything that chains or redirects commands. */
function simpleCommandWords(command: string): string[] | undefined {
  const words = command.trim().split(/\s+/);
  const shellOperators = ['&&', '||', ';', '|', '&', '>', '<', '`', '$('];
  if (words.some((w) => shellOperators.some((op) => w.includes(op)))) return undefined;
  return words;
}

const blueprint = parse(readFileSync(blueprintPath, 'utf8')) as Obj;
const services = blueprint.services as Obj[];
const databases = blueprint.databases as Obj[];
const appService = services.find((s) => s.runtime === 'python')!;
const statusService = services.find((s) => s.startCommand === 'migration-gate serve')!;

function envOf(svc: Obj): Map<string, Obj> {
  return new Map((svc.envVars as Obj[]).map((e) => [String(e.key), e]));
}

describe('examples/window-builder/render.yaml', () => {
  test('matches the Blueprint spec: known fields, right types, env vars with one source each', () => {
    expect(validateBlueprint(blueprint)).toEqual([]);
  });

  test('declares one PostgreSQL 15 database and two services', () => {
    expect(databases).toHaveLength(1);
    expect(databases[0]).toMatchObject({ name: 'window-builder-db', postgresMajorVersion: '15' });
    expect(services.map((s) => [s.type, s.runtime])).toEqual([
      ['web', 'python'],
      ['web', 'node'],
    ]);
  });

  test('the app runs migration-gate as its pre-deploy command, as a single `migration-gate run` call', () => {
    expect(typeof appService.preDeployCommand).toBe('string');
    expect(simpleCommandWords(appService.preDeployCommand as string)).toEqual(['migration-gate', 'run']);
  });

  test('the app build installs both the Python requirements and migration-gate', () => {
    const build = String(appService.buildCommand);
    expect(build).toContain('pip install -r requirements.txt');
    expect(build).toMatch(/npm install -g migration-gate@\d+\.\d+\.\d+/);
    expect(existsSync(path.join(exampleDir, 'requirements.txt'))).toBe(true);
  });

  test('DATABASE_URL comes from the declared database connection string on both services', () => {
    for (const svc of [appService, statusService]) {
      expect(envOf(svc).get('DATABASE_URL')).toEqual({
        key: 'DATABASE_URL',
        fromDatabase: { name: 'window-builder-db', property: 'connectionString' },
      });
    }
  });

  test('ALEMBIC_CONFIG names the example alembic.ini and the dump target is an s3:// URL', () => {
    const env = envOf(appService);
    const alembicConfig = String(env.get('ALEMBIC_CONFIG')?.value);
    expect(existsSync(path.join(exampleDir, alembicConfig))).toBe(true);
    expect(String(env.get('MIGRATION_GATE_DUMP_TARGET')?.value)).toMatch(/^s3:\/\/[a-z0-9.-]+\//);
  });

  test('secrets and the override are never committed: they are sync: false', () => {
    const env = envOf(appService);
    for (const key of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'MIGRATION_GATE_ALLOW',
      'MIGRATION_GATE_ALLOW_REASON',
    ]) {
      expect(env.get(key)).toEqual({ key, sync: false });
    }
  });

  test('the status service serves with a generated bearer token and a health check', () => {
    expect(statusService).toMatchObject({ type: 'web', runtime: 'node', healthCheckPath: '/healthz' });
    expect(envOf(statusService).get('MIGRATION_GATE_STATUS_TOKEN')).toEqual({
      key: 'MIGRATION_GATE_STATUS_TOKEN',
      generateValue: true,
    });
    expect(statusService.preDeployCommand).toBeUndefined();
  });

  test('the status service gets only what serve reads: the database, its token, the history schema', () => {
    const allowed = [
      'NODE_VERSION',
      'DATABASE_URL',
      'MIGRATION_GATE_STATUS_TOKEN',
      'MIGRATION_GATE_HISTORY_SCHEMA',
    ];
    const extra = [...envOf(statusService).keys()].filter((k) => !allowed.includes(k));
    expect(extra).toEqual([]);
    // Both services must look at the same history table.
    expect(envOf(statusService).get('MIGRATION_GATE_HISTORY_SCHEMA')?.value).toBe(
      envOf(appService).get('MIGRATION_GATE_HISTORY_SCHEMA')?.value,
    );
  });

  test('every MIGRATION_GATE_* variable in the Blueprint is a setting the gate knows', () => {
    const known = new Set(Object.values(SETTINGS).map((s) => s.env));
    const keys = services.flatMap((svc) => [...envOf(svc).keys()]);
    expect(keys.filter((k) => k.startsWith('MIGRATION_GATE_') && !known.has(k))).toEqual([]);
  });

  test("the S3 permission comment lists the README's actions", () => {
    const yamlText = readFileSync(blueprintPath, 'utf8');
    const readme = readFileSync(path.join(exampleDir, '../../README.md'), 'utf8');
    const actions = (text: string) => [...new Set(text.match(/\b(?:s3|kms):[A-Z][A-Za-z]+/g))].sort();
    expect(actions(readme)).toEqual(
      expect.arrayContaining(['s3:AbortMultipartUpload', 's3:ListBucketMultipartUploads', 'kms:Decrypt']),
    );
    expect(actions(yamlText)).toEqual(actions(readme));
  });
});

describe('one Node.js version: the Blueprint, CI and the README agree', () => {
  const repoRoot = path.join(exampleDir, '../..');
  const lts = readFileSync(path.join(repoRoot, '.node-version'), 'utf8').trim();

  test('.node-version names an LTS line the package supports (even major, >= 22)', () => {
    const major = Number(/^(\d+)\.\d+\.\d+$/.exec(lts)?.[1]);
    expect(major % 2).toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=22');
    expect(major).toBeGreaterThanOrEqual(22);
  });

  test('every service that runs migration-gate pins NODE_VERSION to that LTS', () => {
    for (const svc of [appService, statusService])
      expect(envOf(svc).get('NODE_VERSION')).toEqual({ key: 'NODE_VERSION', value: lts });
  });

  test("the README's GitHub Actions example sets up the same Node", () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const versions = [...readme.matchAll(/node-version: ([\w.]+)/g)].map((m) => m[1]);
    expect(versions).toEqual([lts]);
  });
});

describe('the Blueprint validator catches spec violations', () => {
  const base = () =>
    parse(readFileSync(blueprintPath, 'utf8')) as { services: Obj[]; databases: Obj[] } & Obj;

  test('an env var with two sources', () => {
    const doc = base();
    (doc.services[0]!.envVars as Obj[]).push({ key: 'X', value: 'a', sync: false });
    expect(validateBlueprint(doc)).toEqual([
      expect.stringContaining(
        'needs exactly one of value/fromDatabase/fromService/generateValue/sync, has value, sync',
      ),
    ]);
  });

  test('fromDatabase naming an undeclared database, and an unknown property', () => {
    const doc = base();
    (doc.services[0]!.envVars as Obj[]).push({
      key: 'Y',
      fromDatabase: { name: 'other-db', property: 'url' },
    });
    expect(validateBlueprint(doc)).toEqual([
      expect.stringContaining('fromDatabase.name other-db is not a declared database'),
      expect.stringContaining('fromDatabase.property must be one of'),
    ]);
  });

  test('an unquoted postgresMajorVersion, an unknown runtime and a misspelled field', () => {
    const doc = base();
    doc.databases[0]!.postgresMajorVersion = 15;
    doc.services[1]!.runtime = 'nodejs';
    doc.services[0]!.predeployCommand = 'migration-gate run';
    expect(validateBlueprint(doc).sort()).toEqual([
      'databases[0]: postgresMajorVersion must be a string',
      'services[0]: unknown key predeployCommand',
      `services[1]: runtime must be one of ${RUNTIMES.join(', ')}`,
    ]);
  });

  test('an unknown region, a healthCheckPath on a worker, a fromService property that does not exist', () => {
    const doc = base();
    doc.services[0]!.region = 'eu-central-1';
    doc.services[1]!.type = 'worker';
    (doc.services[0]!.envVars as Obj[]).push({
      key: 'Z',
      fromService: { name: 'window-builder', type: 'web', property: 'url' },
    });
    expect(validateBlueprint(doc).sort()).toEqual([
      expect.stringContaining('fromService.property must be one of host, port, hostport, connectionString'),
      `services[0]: region must be one of ${REGIONS.join(', ')}`,
      'services[1]: healthCheckPath is only for web services',
    ]);
  });

  test('a native service without a start command', () => {
    const doc = base();
    delete doc.services[1]!.startCommand;
    expect(validateBlueprint(doc)).toEqual(['services[1]: a node service needs startCommand']);
  });

  test('a chained pre-deploy command is not a single migration-gate call', () => {
    expect(simpleCommandWords('alembic upgrade head && migration-gate run')).toBeUndefined();
    expect(simpleCommandWords('migration-gate run; alembic upgrade head')).toBeUndefined();
  });
});

describe("README's Docker-runtime Blueprint lines", () => {
  const readme = readFileSync(path.join(exampleDir, '../../README.md'), 'utf8');
  const block =
    /<!-- docker-blueprint:start -->\s*```yaml\n([\s\S]*?)```\s*<!-- docker-blueprint:end -->/.exec(readme);
  test('are a valid Blueprint service beside render.yaml database, with a Dockerfile that exists', () => {
    expect(block).not.toBeNull();
    const snippet = parse(block![1]!) as Obj;
    expect(validateBlueprint({ services: snippet.services, databases })).toEqual([]);
    const svc = (snippet.services as Obj[])[0]!;
    expect(svc).toMatchObject({ runtime: 'docker', preDeployCommand: 'migration-gate run' });
    const root = path.resolve(exampleDir, '../..');
    expect(existsSync(path.join(root, String(svc.dockerfilePath)))).toBe(true);
    expect(existsSync(path.join(root, String(svc.dockerContext)))).toBe(true);
  });
});
