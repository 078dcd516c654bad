/** The moto S3 server for the integration tests: the same launcher the benchmark uses (bench/s3-server.ts). */
export { startS3Server, type S3Server as S3TestServer } from '../../bench/s3-server.js';
