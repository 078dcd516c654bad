/**
 * S3 settings from the environment, apart from the SDK (which takes ~0.4 s to load) so the settings
 * check can list S3 problems together with every other problem.
 */
import { ConfigError } from '../errors.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3TargetConfig {
  bucket: string;
  /** Key prefix without leading/trailing slashes; '' for the bucket root. */
  prefix: string;
  region: string;
  /** Custom endpoint (R2, B2, MinIO); undefined for AWS. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** ServerSideEncryption header, e.g. AES256 or aws:kms. */
  sse?: string;
  kmsKeyId?: string;
  /** Explicit credentials from the environment; undefined = the SDK's default chain (instance role, profile). */
  credentials?: S3Credentials;
}

const SSE_VALUES = ['AES256', 'aws:kms', 'aws:kms:dsse'];
const BUCKET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

function endpointFrom(env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  for (const name of ['MIGRATION_GATE_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function targetUrlFrom(env: NodeJS.ProcessEnv, url?: URL): URL | string | undefined {
  if (url) return url;
  const raw = env.MIGRATION_GATE_DUMP_TARGET?.trim();
  if (!raw || !raw.toLowerCase().startsWith('s3:')) return undefined;
  try {
    return new URL(raw);
  } catch {
    return raw;
  }
}

function urlProblems(url: URL | string): string[] {
  if (typeof url === 'string')
    return [`MIGRATION_GATE_DUMP_TARGET is not a valid URL; use s3://bucket/optional/prefix`];
  const problems: string[] = [];
  if (url.username || url.password) {
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET must not contain credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY instead',
    );
  }
  if (!url.hostname) {
    problems.push('MIGRATION_GATE_DUMP_TARGET has no bucket name; use s3://bucket/optional/prefix');
  } else if (!BUCKET_RE.test(url.hostname)) {
    problems.push(
      `MIGRATION_GATE_DUMP_TARGET bucket ${JSON.stringify(url.hostname)} is not a valid bucket name (3-63 letters, digits, dots, hyphens)`,
    );
  }
  if (url.port)
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET must not have a port; set MIGRATION_GATE_S3_ENDPOINT for a custom endpoint',
    );
  if (url.search || url.hash)
    problems.push('MIGRATION_GATE_DUMP_TARGET must not have ?query or #fragment parts');
  return problems;
}

/**
 * Every problem with the S3 settings at once (for the config validator). `url` defaults to
 * MIGRATION_GATE_DUMP_TARGET when that is an s3:// URL; without either only the env settings are checked.
 */
export function s3ConfigProblems(env: NodeJS.ProcessEnv, url?: URL): string[] {
  const problems: string[] = [];
  const target = targetUrlFrom(env, url);
  if (target !== undefined) problems.push(...urlProblems(target));

  const endpoint = endpointFrom(env);
  if (endpoint) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(endpoint.value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      problems.push(
        `${endpoint.name} is not an http(s) URL; use e.g. https://<account>.r2.cloudflarestorage.com`,
      );
    } else if (parsed.username || parsed.password) {
      problems.push(
        `${endpoint.name} must not contain credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY instead`,
      );
    }
  }

  const pathStyle = env.MIGRATION_GATE_S3_FORCE_PATH_STYLE?.trim();
  if (pathStyle && !['true', 'false'].includes(pathStyle.toLowerCase())) {
    problems.push(
      `MIGRATION_GATE_S3_FORCE_PATH_STYLE must be true or false, not ${JSON.stringify(pathStyle)}`,
    );
  }

  const sse = env.MIGRATION_GATE_S3_SSE?.trim();
  const kmsKey = env.MIGRATION_GATE_S3_KMS_KEY_ID?.trim();
  if (sse && !SSE_VALUES.includes(sse)) {
    problems.push(
      `MIGRATION_GATE_S3_SSE must be one of ${SSE_VALUES.join(', ')}, not ${JSON.stringify(sse)}`,
    );
  }
  if (kmsKey && (!sse || !sse.startsWith('aws:kms'))) {
    problems.push(
      'MIGRATION_GATE_S3_KMS_KEY_ID is set but MIGRATION_GATE_S3_SSE is not aws:kms; set MIGRATION_GATE_S3_SSE=aws:kms',
    );
  }

  const keyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secret = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (keyId && !secret)
    problems.push('AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both or neither');
  if (secret && !keyId)
    problems.push('AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both or neither');
  if (env.AWS_SESSION_TOKEN?.trim() && !(keyId && secret)) {
    problems.push('AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; set all three');
  }
  return problems;
}

/** Settings from `s3://bucket/prefix` and the environment; throws ConfigError listing every problem. */
export function s3ConfigFromEnv(url: URL, env: NodeJS.ProcessEnv): S3TargetConfig {
  const problems = s3ConfigProblems(env, url);
  if (problems.length > 0) {
    throw new ConfigError(`S3 dump target settings are invalid: ${problems[0]}`, problems.slice(1));
  }
  const prefix = decodeURIComponent(url.pathname)
    .split('/')
    .filter((p) => p.length > 0)
    .join('/');
  const endpoint = endpointFrom(env)?.value;
  const pathStyle = env.MIGRATION_GATE_S3_FORCE_PATH_STYLE?.trim().toLowerCase();
  const keyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secret = env.AWS_SECRET_ACCESS_KEY?.trim();
  const token = env.AWS_SESSION_TOKEN?.trim();
  const sse = env.MIGRATION_GATE_S3_SSE?.trim();
  const kmsKeyId = env.MIGRATION_GATE_S3_KMS_KEY_ID?.trim();
  return {
    bucket: url.hostname,
    prefix,
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    // MinIO and most self-hosted stores need path-style; AWS prefers virtual-hosted.
    forcePathStyle: pathStyle ? pathStyle === 'true' : endpoint !== undefined,
    ...(sse ? { sse } : {}),
    ...(kmsKeyId ? { kmsKeyId } : {}),
    ...(keyId && secret
      ? {
          credentials: {
            accessKeyId: keyId,
            secretAccessKey: secret,
            ...(token ? { sessionToken: token } : {}),
          },
        }
      : {}),
  };
}
