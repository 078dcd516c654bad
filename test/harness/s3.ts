/** The moto S3 server for the integration tests: the same launcher the benchmark uses (src/bench/s3-server.ts). */
export { startS3Server, type S3Server as S3TestServer } from '../../src/bench/s3-server.js';
