"""Start moto's S3-compatible server on 127.0.0.1 (ephemeral port) for integration tests and benchmarks.

Launched by bench/s3-server.ts (test/harness/s3.ts re-exports it).

Why moto and not s3rver: s3rver 3.7 has no AbortMultipartUpload, no ListMultipartUploads and does not
verify SigV4 signatures, so the tests could not prove "no orphaned parts" nor the credentials error.
moto ships in this machine image's Python. Authentication is switched on: the first three requests
(below) create an IAM user with an S3 policy; every later request must be signed with its key.

Prints one JSON line {"port", "accessKeyId", "secretAccessKey"} on stdout, then serves until stdin closes.
"""

import json
import os
import sys

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from urllib.parse import parse_qsl, quote  # noqa: E402

import boto3  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402

# moto rebuilds the request URL from werkzeug's decoded form (prefix=a%2F arrives as prefix=a/), so its
# signature check fails for any query value with a slash. Re-encode the query the way SigV4 clients sign it.
_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _create_aws_request_encoded(self):  # type: ignore[no-untyped-def]
    path, sep, query = self._path.partition("?")
    if sep:
        pairs = parse_qsl(query, keep_blank_values=True)
        self._path = path + "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    return _create_aws_request(self)


access_control.IAMRequestBase._create_aws_request = _create_aws_request_encoded

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()

iam = boto3.client(
    "iam",
    endpoint_url=f"http://127.0.0.1:{port}",
    region_name="us-east-1",
    aws_access_key_id="bootstrap",
    aws_secret_access_key="bootstrap",
)
iam.create_user(UserName="gate")
key = iam.create_access_key(UserName="gate")["AccessKey"]
iam.put_user_policy(
    UserName="gate",
    PolicyName="s3",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    ),
)

print(
    json.dumps({"port": port, "accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}),
    flush=True,
)
try:
    sys.stdin.read()
finally:
    server.stop()
