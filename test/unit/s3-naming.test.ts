import {
  dumpObjectName,
  formatUtcStamp,
  parseDumpObjectName,
  parseUtcStamp,
  sanitizeNamePart,
} from '../../src/storage/naming.js';
import { s3ClientConfig, s3ConfigFromEnv, s3ConfigProblems } from '../../src/storage/s3.js';
import { ConfigError } from '../../src/errors.js';

const createdAt = new Date('2026-11-25T03:15:00.987Z');

describe('dumpObjectName', () => {
  test('service folder, UTC stamp first, revisions, short commit', () => {
    expect(
      dumpObjectName({
        service: 'billing-api',
        createdAt,
        fromRevisions: ['ae1027a6acf'],
        toRevisions: ['27c6a30d7c24'],
        commit: '0123456789abcdef',
      }),
    ).toBe('billing-api/20261125T031500Z_ae1027a6acf_to_27c6a30d7c24_0123456.dump');
  });

  test("'base' when the database had no revision, no commit field without a commit", () => {
    expect(dumpObjectName({ service: 'svc', createdAt, fromRevisions: [], toRevisions: ['abc'] })).toBe(
      'svc/20261125T031500Z_base_to_abc.dump',
    );
  });

  test('merge heads are joined with + in a stable order', () => {
    expect(
      dumpObjectName({ service: 'svc', createdAt, fromRevisions: ['b2', 'a1'], toRevisions: ['c3'] }),
    ).toBe('svc/20261125T031500Z_a1+b2_to_c3.dump');
  });

  test('unsafe characters are sanitized; the separator _ never leaks from a field', () => {
    const name = dumpObjectName({
      service: '../My Service/ü',
      createdAt,
      fromRevisions: ['rev_with_underscores'],
      toRevisions: ['a/b c'],
      commit: 'x_y',
    });
    expect(name).toBe('My-Service/20261125T031500Z_rev-with-underscores_to_a-b-c_x-y.dump');
    expect(parseDumpObjectName(name)).toEqual({
      service: 'My-Service',
      createdAt: new Date('2026-11-25T03:15:00Z'),
      fromRevisions: ['rev-with-underscores'],
      toRevisions: ['a-b-c'],
      commit: 'x-y',
    });
  });

  test("no service -> 'default' folder", () => {
    expect(dumpObjectName({ createdAt, fromRevisions: [], toRevisions: ['a'] })).toMatch(/^default\//);
  });

  test('names sort by time within a service', () => {
    const names = ['2026-01-02T00:00:00Z', '2025-12-31T23:59:59Z', '2026-01-01T10:00:00Z'].map((t) =>
      dumpObjectName({ service: 's', createdAt: new Date(t), fromRevisions: ['zz'], toRevisions: ['aa'] }),
    );
    expect([...names].sort()).toEqual([names[1], names[2], names[0]]);
  });

  test('round trip through parseDumpObjectName, also under a prefix', () => {
    const name = dumpObjectName({
      service: 'svc',
      createdAt,
      fromRevisions: [],
      toRevisions: ['x', 'y'],
      commit: 'abcdef0',
    });
    expect(parseDumpObjectName(`team/prod/${name}`)).toEqual({
      service: 'svc',
      createdAt: new Date('2026-11-25T03:15:00Z'),
      fromRevisions: [],
      toRevisions: ['x', 'y'],
      commit: 'abcdef0',
    });
  });

  test('foreign names are not parsed', () => {
    expect(parseDumpObjectName('svc/notes.txt')).toBeUndefined();
    expect(parseDumpObjectName('svc/hello.dump')).toBeUndefined();
    expect(parseDumpObjectName('svc/20261399T000000Z_a_to_b.dump')).toBeUndefined();
  });

  test('stamp helpers', () => {
    expect(formatUtcStamp(createdAt)).toBe('20261125T031500Z');
    expect(parseUtcStamp('20261125T031500Z')).toEqual(new Date('2026-11-25T03:15:00Z'));
    expect(parseUtcStamp('2026-11-25')).toBeUndefined();
    expect(() => formatUtcStamp(new Date('nope'))).toThrow(TypeError);
    expect(sanitizeNamePart('--a__b--')).toBe('a-b');
  });
});

describe('S3 settings', () => {
  const url = new URL('s3://my-dumps/prod/db');

  test('defaults: AWS, us-east-1, virtual-hosted style, default credential chain', () => {
    expect(s3ConfigFromEnv(url, {})).toEqual({
      bucket: 'my-dumps',
      prefix: 'prod/db',
      region: 'us-east-1',
      forcePathStyle: false,
    });
  });

  test('endpoint precedence, path-style default for custom endpoints, SSE and credentials', () => {
    const config = s3ConfigFromEnv(new URL('s3://b2-bucket'), {
      AWS_ENDPOINT_URL: 'https://ignored.example',
      AWS_ENDPOINT_URL_S3: 'https://s3.eu-central-003.backblazeb2.com',
      AWS_DEFAULT_REGION: 'eu-central-003',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
      MIGRATION_GATE_S3_SSE: 'aws:kms',
      MIGRATION_GATE_S3_KMS_KEY_ID: 'alias/dumps',
    });
    expect(config).toEqual({
      bucket: 'b2-bucket',
      prefix: '',
      region: 'eu-central-003',
      endpoint: 'https://s3.eu-central-003.backblazeb2.com',
      forcePathStyle: true,
      sse: 'aws:kms',
      kmsKeyId: 'alias/dumps',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' },
    });
    expect(
      s3ConfigFromEnv(url, {
        MIGRATION_GATE_S3_ENDPOINT: 'http://127.0.0.1:9000',
        MIGRATION_GATE_S3_FORCE_PATH_STYLE: 'false',
      }).forcePathStyle,
    ).toBe(false);
  });

  test('every problem is listed at once, and none shows a secret', () => {
    const env = {
      MIGRATION_GATE_DUMP_TARGET: 's3://key:hunter2@x/prefix?a=1',
      MIGRATION_GATE_S3_ENDPOINT: 'ftp://minio',
      MIGRATION_GATE_S3_FORCE_PATH_STYLE: 'yes',
      MIGRATION_GATE_S3_SSE: 'rot13',
      MIGRATION_GATE_S3_KMS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 'hunter3',
    };
    const problems = s3ConfigProblems(env);
    expect(problems).toEqual([
      'MIGRATION_GATE_DUMP_TARGET must not contain credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY instead',
      'MIGRATION_GATE_DUMP_TARGET bucket "x" is not a valid bucket name (3-63 letters, digits, dots, hyphens)',
      'MIGRATION_GATE_DUMP_TARGET must not have ?query or #fragment parts',
      'MIGRATION_GATE_S3_ENDPOINT is not an http(s) URL; use e.g. https://<account>.r2.cloudflarestorage.com',
      'MIGRATION_GATE_S3_FORCE_PATH_STYLE must be true or false, not "yes"',
      'MIGRATION_GATE_S3_SSE must be one of AES256, aws:kms, aws:kms:dsse, not "rot13"',
      'MIGRATION_GATE_S3_KMS_KEY_ID is set but MIGRATION_GATE_S3_SSE is not aws:kms; set MIGRATION_GATE_S3_SSE=aws:kms',
      'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both or neither',
    ]);
    expect(problems.join('\n')).not.toMatch(/hunter/);
    expect(s3ConfigProblems({})).toEqual([]);
    expect(s3ConfigProblems({ MIGRATION_GATE_DUMP_TARGET: 'file:///var/dumps' })).toEqual([]);
  });

  test('s3ConfigFromEnv throws one ConfigError with the rest as details', () => {
    let error: unknown;
    try {
      s3ConfigFromEnv(new URL('s3://ok-bucket'), { MIGRATION_GATE_S3_SSE: 'x', AWS_ACCESS_KEY_ID: 'AKIA' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'S3 dump target settings are invalid: MIGRATION_GATE_S3_SSE must be one of AES256, aws:kms, aws:kms:dsse, not "x"',
    );
    expect((error as ConfigError).details).toEqual([
      'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both or neither',
    ]);
  });
});

describe("s3ClientConfig (the gate's client; the benchmark's bare baseline uses the same)", () => {
  const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example' };

  test('AWS: the SDK computes and validates CRC32 checksums', () => {
    const c = s3ClientConfig(
      s3ConfigFromEnv(new URL('s3://bucket/dumps'), { ...env, AWS_REGION: 'eu-west-1' }),
    );
    expect(c.endpoint).toBeUndefined();
    expect(c.region).toBe('eu-west-1');
    expect(c.requestChecksumCalculation).toBe('WHEN_SUPPORTED');
    expect(c.responseChecksumValidation).toBe('WHEN_SUPPORTED');
  });

  test('a custom endpoint (B2, older MinIO reject CRC32 trailers): checksums only where the API requires them', () => {
    const c = s3ClientConfig(
      s3ConfigFromEnv(new URL('s3://bucket/dumps'), {
        ...env,
        MIGRATION_GATE_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com',
      }),
    );
    expect(c.endpoint).toBe('https://s3.us-west-004.backblazeb2.com');
    expect(c.requestChecksumCalculation).toBe('WHEN_REQUIRED');
    expect(c.responseChecksumValidation).toBe('WHEN_REQUIRED');
    expect(c.credentials).toEqual({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-example' });
  });
});
