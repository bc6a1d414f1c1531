"""What one parameter mode of template.yaml deploys, as the IAM check needs it: each function's
role (inline and managed policies), environment and gateway, and the resource policies and KMS
keys in front of the resources the functions call.

Built on tests/template/modes.py (`resolved(mode, names, params)`: the SAM-transformed template
with conditions evaluated and intrinsics resolved), with the test's own resource names, so the
recorded requests and the role speak of the same ARNs.
"""
from __future__ import annotations

import functools
import json
import pathlib
import sys
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "template"))
import modes  # noqa: E402

# The AWS managed policies SAM attaches, as AWS publishes them (iam-data carries actions, not
# managed policy documents). None of the recorded calls needs them: Lambda itself uses them for
# logs and VPC network interfaces. They are evaluated anyway so a role is the role AWS sees.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                       "Resource": "*"}],
    },
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": [
            "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"], "Resource": "*"}],
    },
}


KEY_NAME = "key-{}"


def default_key_policy(account: str) -> dict:
    """The key policy AWS gives a key created without one, which lets IAM policies of the account
    grant its use. A key the owner brings (SnapshotKmsKeyArn) is assumed to have it: the stack
    cannot see that key's policy, and the README asks for the key to be usable by the account."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EnableIamUserPermissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*", "Resource": "*"}]}


@dataclass
class Function:
    logical: str
    binary: str
    role_arn: str
    inline: list[tuple[str, dict]]  # (policy name, document)
    managed: list[str]
    env: dict[str, str]
    gateways: list[dict]


class Deployment:
    """One mode resolved with one set of names: what AWS would have."""

    def __init__(self, mode: str, template: dict):
        self.mode = mode
        self.account = modes.ACCOUNT
        self.region = modes.REGION
        res = template["Resources"]
        self.functions: dict[str, Function] = {}
        # `deployment()` names each role after its logical id (the names are placeholders anyway).
        roles = {logical: r for logical, r in res.items() if r["Type"] == "AWS::IAM::Role"}
        for logical, r in res.items():
            if r["Type"] != "AWS::Lambda::Function":
                continue
            binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise ValueError(f"{mode}: {logical} has no Metadata.BuildProperties.Binary")
            role_arn = r["Properties"]["Role"]
            role = roles[role_arn.rsplit("/", 1)[1]]
            env = r["Properties"].get("Environment", {}).get("Variables", {})
            self.functions[binary] = Function(
                logical=logical,
                binary=binary,
                role_arn=role_arn,
                inline=[(p["PolicyName"], p["PolicyDocument"]) for p in role["Properties"].get("Policies", [])],
                managed=list(role["Properties"].get("ManagedPolicyArns", [])),
                env=env,
                gateways=json.loads(env.get("CLAWKEEPER_GATEWAYS", "[]")),
            )
        self.table_hash_key = next(
            k["AttributeName"] for k in res["StateTable"]["Properties"]["KeySchema"] if k["KeyType"] == "HASH")
        self._resources = res
        self.bucket_policies = {r["Properties"]["Bucket"]: r["Properties"]["PolicyDocument"]
                                for r in res.values() if r["Type"] == "AWS::S3::BucketPolicy"}
        self.topic_policies = {t: r["Properties"]["PolicyDocument"] for r in res.values()
                               if r["Type"] == "AWS::SNS::TopicPolicy" for t in r["Properties"]["Topics"]}
        self.secret_policies = {r["Properties"]["SecretId"]: r["Properties"]["ResourcePolicy"]
                                for r in res.values() if r["Type"] == "AWS::SecretsManager::ResourcePolicy"}
        # Keys the stack creates, by ARN; `deployment()` names each key `key-<LogicalId>`, so a
        # reference to it (Ref: the id, GetAtt Arn, an alias) can be told from the owner's keys.
        self.key_policies: dict[str, dict] = {}
        self._key_arns: dict[str, str] = {}
        for logical, r in res.items():
            if r["Type"] == "AWS::KMS::Key":
                arn = f"arn:aws:kms:{self.region}:{self.account}:key/{KEY_NAME.format(logical)}"
                self.key_policies[arn] = r["Properties"]["KeyPolicy"]
                self._key_arns[KEY_NAME.format(logical)] = arn
        for r in res.values():
            if r["Type"] == "AWS::KMS::Alias":
                target = r["Properties"]["TargetKeyId"]
                self._key_arns[r["Properties"]["AliasName"]] = self._key_arns.get(target, target)

    # -- encryption
    def bucket_key(self, bucket: str) -> str | None:
        """The KMS key ARN the bucket encrypts new objects with, or None (SSE-S3)."""
        b = self._bucket(bucket)
        if b is None:
            return None
        for rule in b["Properties"].get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
            default = rule.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
                return self._key_arn(default.get("KMSMasterKeyID") or "alias/aws/s3")
        return None

    def topic_key(self, topic_arn: str) -> str | None:
        """The KMS key ARN of a topic the stack creates, or None (none, or not the stack's topic)."""
        for r in self._resources.values():
            if r["Type"] == "AWS::SNS::Topic" and self._topic_arn(r) == topic_arn:
                key = r["Properties"].get("KmsMasterKeyId")
                return self._key_arn(key) if key else None
        return None

    def key_policy(self, key_arn: str) -> dict:
        return self.key_policies.get(key_arn) or default_key_policy(self.account)

    @staticmethod
    def aws_managed(key_arn: str) -> bool:
        """`alias/aws/<service>`: an AWS managed key, whose policy lets every principal of the
        account use it through that service (nothing to grant, and nothing the stack controls)."""
        return "alias/aws/" in key_arn

    def _key_arn(self, key: str) -> str:
        key = self._key_arns.get(key, key)
        if key.startswith("arn:"):
            return key
        kind = "" if key.startswith("alias/") else "key/"
        return f"arn:aws:kms:{self.region}:{self.account}:{kind}{key}"

    def _bucket(self, name: str):
        """The stack's bucket, if `name` is its name. The resolved template names a bucket only
        where something refers to it: the bucket policy's Bucket and the functions'
        CLAWKEEPER_BUCKET are the stack's one bucket."""
        names = set(self.bucket_policies) | {f.env.get("CLAWKEEPER_BUCKET") for f in self.functions.values()}
        buckets = [r for r in self._resources.values() if r["Type"] == "AWS::S3::Bucket"]
        if len(buckets) != 1:
            raise ValueError(f"{self.mode}: expected one S3 bucket in the stack, found {len(buckets)}")
        return buckets[0] if name in names else None

    def _topic_arn(self, topic: dict) -> str | None:
        topics = [r for r in self._resources.values() if r["Type"] == "AWS::SNS::Topic"]
        arns = {f.env.get("CLAWKEEPER_TOPIC_ARN") for f in self.functions.values()} - {None}
        if len(topics) == 1 and len(arns) == 1:
            return arns.pop()
        raise ValueError(f"{self.mode}: expected one topic and one CLAWKEEPER_TOPIC_ARN, found {len(topics)} and {arns}")

    def resource_policy(self, resource: str) -> tuple[str, dict] | None:
        """The resource policy (key, document) in front of a resource, if the stack has one."""
        if resource.startswith("arn:aws:s3:::"):
            bucket = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
            if bucket in self.bucket_policies:
                return f"bucket-policy:{bucket}", self.bucket_policies[bucket]
        if resource in self.topic_policies:
            return f"topic-policy:{resource}", self.topic_policies[resource]
        if resource in self.secret_policies:
            return f"secret-policy:{resource}", self.secret_policies[resource]
        if resource.startswith("arn:aws:kms:"):
            return f"key-policy:{resource}", self.key_policy(resource)
        return None


def names_and_params(env: dict[str, str], gateway: dict | None) -> tuple[dict, dict]:
    """The template's names and parameters that make its stack the one a test ran against.

    `gateway` is the seed gateway (CLAWKEEPER_GATEWAYS) the request is about, or the first seed for
    a request about a gateway registered at run time: every gateway of the fleet runs in the watched
    cluster, the seed's, so the stack is the same. Without any seed gateway, the watched cluster is
    CLAWKEEPER_WATCHED_CLUSTERS' first."""
    names = {}
    for logical, var in (("StateTable", "CLAWKEEPER_TABLE"), ("SnapshotBucket", "CLAWKEEPER_BUCKET"),
                         ("AlertTopic", "CLAWKEEPER_TOPIC_ARN"), ("SnapshotFunction", "CLAWKEEPER_SNAPSHOT_FUNCTION"),
                         ("RestoreFunction", "CLAWKEEPER_RESTORE_FUNCTION")):
        if env.get(var):
            names[logical] = env[var].rsplit(":", 1)[-1] if var.endswith("_FUNCTION") else env[var]
    if env.get("CLAWKEEPER_DEAD_LETTER_QUEUE_URL"):
        names["EventDeadLetterQueue"] = env["CLAWKEEPER_DEAD_LETTER_QUEUE_URL"].rstrip("/").rsplit("/", 1)[-1]
    params = {}
    if gateway:
        params["GatewayId"] = gateway["id"]
        params["ClusterName"] = gateway["cluster"].rsplit("/", 1)[-1]
        if gateway.get("service"):
            params["ServiceName"] = gateway["service"].rsplit("/", 1)[-1]
        if gateway.get("token_secret_arn"):
            names["GatewayTokenSecret"] = gateway["token_secret_arn"]
        if gateway.get("log_group"):
            params["GatewayLogGroup"] = gateway["log_group"]
    elif env.get("CLAWKEEPER_WATCHED_CLUSTERS", "").strip():
        params["ClusterName"] = env["CLAWKEEPER_WATCHED_CLUSTERS"].split(",")[0].strip().rsplit("/", 1)[-1]
    return names, params


@functools.lru_cache(maxsize=512)
def _deployment(mode: str, names_json: str, params_json: str) -> Deployment:
    names, params = json.loads(names_json), json.loads(params_json)
    for logical, r in modes.transformed(mode, params)["Resources"].items():
        if r["Type"] == "AWS::KMS::Key":
            names.setdefault(logical, KEY_NAME.format(logical))
        if r["Type"] == "AWS::IAM::Role":
            names.setdefault(logical, logical)
    return Deployment(mode, modes.resolved(mode, names=names, params=params))


def deployment(mode: str, names: dict, params: dict) -> Deployment:
    """The mode resolved with these names and parameters (cached: many calls share them)."""
    return _deployment(mode, json.dumps(names, sort_keys=True), json.dumps(params, sort_keys=True))


def mode_names() -> list[str]:
    return list(modes.MODES)
