"""The parameter modes of template.yaml, in one place, and the template as AWS sees it in each.

Importable by any test code (`sys.path.insert(0, "tests/template"); import modes`):

- `MODES`: mode name -> the parameter values an owner would give (fake ids in account
  123456789012, region us-east-1); parameters not named keep their defaults.
- `transformed(mode)`: the SAM-transformed template, what `sam deploy` sends to CloudFormation.
- `resolved(mode, names=None, params=None)`: the transformed template with the mode's parameters
  substituted, conditions evaluated (resources and outputs whose condition is false removed) and
  every intrinsic function resolved to a concrete value, the way CloudFormation would.
- `physical_ids(mode, names=None, params=None)`: logical id -> {"Ref": ..., "Arn": ...} of each
  resource resolved() creates (the names and ARNs its Refs and GetAtts were resolved to).
- `parameters(mode, params=None)`: the effective parameter values (defaults + mode + overrides).
- `rule_failures(mode, params=None)`: what CloudFormation refuses up front for those values
  (AllowedValues, AllowedPattern, the Rules section's assertions).
- `dependencies(mode)` / `depends_on(deps, logical)`: CREATE-order dependencies, direct and transitive.

The template read is `template.yaml` at the repository root, or the file named by the
environment variable `CLAWKEEPER_TEMPLATE` (the checks are run against an old template that way).
Nothing here sends traffic anywhere: the SAM transform runs offline with a local policy table.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK = "clawkeeper"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/6f2b1c40-0a1b-11ef-9d2e-0affd3c1e5a7"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::StackId": STACK_ID,
    "AWS::URLSuffix": "amazonaws.com",
}
AZS = [f"{REGION}{z}" for z in "abcdef"]
# The translator warns about its own unpublished usage metrics; nothing is published anywhere.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

# ----------------------------------------------------------------------------- the modes
VPC = "vpc-0a1b2c3d4e5f60718"
SUBNETS = ["subnet-0a1a2a3a4a5a6a7a8", "subnet-0b1b2b3b4b5b6b7b8", "subnet-0c1c2c3c4c5c6c7c8"]
SECURITY_GROUP = "sg-0123456789abcdef0"
LOAD_BALANCER_SG = "sg-0fedcba9876543210"
ROUTE_TABLES = ["rtb-0a1b2c3d4e5f60001", "rtb-0a1b2c3d4e5f60002"]
ACCESS_POINT = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-0123456789abcdef0"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OPERATOR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/openclaw-operators"
LOG_GROUP = "/ecs/openclaw/openclaw-gateway"
# A created gateway's models and load balancer.
PUBLIC_SUBNETS = ["subnet-0d1d2d3d4d5d6d7d8", "subnet-0e1e2e3e4e5e6e7e8"]
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
DOMAIN = "openclaw.example.com"
MODEL_KEYS_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:openclaw/model-keys-AbC123"
MODEL_KEYS_KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9876fedc-98fe-76dc-54ba-9876543210fe"
MODEL_KEY_NAMES = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "SLACK_SIGNING_SECRET"]
# A foundation model, a US cross-region inference profile and a global one.
BEDROCK_MODELS = ["anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-opus-4-6-v1",
                  "global.anthropic.claude-haiku-4-5-20251001-v1:0"]

_EXISTING_NETWORK = {"SubnetIds": ",".join(SUBNETS[:2]), "SecurityGroupId": SECURITY_GROUP}
_ENDPOINTS = {"VpcEgress": "endpoints", "VpcId": VPC, "RouteTableIds": ",".join(ROUTE_TABLES)}
_NAT = {"VpcEgress": "nat"}

MODES: dict[str, dict[str, str]] = {
    # Watch an existing gateway, nothing in a VPC: no snapshots, no private-IP probes.
    "defaults": {},
    # Snapshots of an existing gateway's EFS: snapshot and restore join its VPC; the stack
    # creates the S3 gateway endpoint on the owner's route tables.
    "efs-snapshots": {"EfsAccessPointArn": ACCESS_POINT, **_EXISTING_NETWORK, **_ENDPOINTS},
    # The same, with subnets that reach AWS through the owner's NAT gateway: no endpoints.
    "efs-snapshots-nat": {"EfsAccessPointArn": ACCESS_POINT, **_EXISTING_NETWORK, **_NAT},
    # The reconciler joins the VPC to probe the task's private IP (no snapshots).
    "probe-in-vpc": {"ProbeInVpc": "true", **_EXISTING_NETWORK, **_ENDPOINTS},
    "probe-in-vpc-nat": {"ProbeInVpc": "true", **_EXISTING_NETWORK, **_NAT},
    # Everything an existing gateway can have: snapshots with the owner's KMS key, private-IP
    # probes, log alerts, an email subscription and policy overrides.
    "existing-all": {
        "EfsAccessPointArn": ACCESS_POINT, "ProbeInVpc": "true", "SnapshotKmsKeyArn": KMS_KEY,
        "GatewayLogGroup": LOG_GROUP, "OwnerEmail": "owner@example.com",
        "PolicyOverrides": '{"down_grace_secs":120}', **_EXISTING_NETWORK, **_ENDPOINTS,
    },
    # The stack creates the gateway (cluster, service, EFS, token) in two subnets.
    "create-gateway": {"CreateGateway": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS[:2]),
                       "VpcEgress": "endpoints", "RouteTableIds": ROUTE_TABLES[0]},
    "create-gateway-nat": {"CreateGateway": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS[:2]), **_NAT},
    # One subnet only: one mount target.
    "create-gateway-one-subnet": {"CreateGateway": "true", "VpcId": VPC, "SubnetIds": SUBNETS[0],
                                  "VpcEgress": "endpoints", "RouteTableIds": ROUTE_TABLES[0]},
    # Created gateway behind a load balancer, snapshots with the owner's KMS key, three subnets.
    "create-gateway-lb-kms": {
        "CreateGateway": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS),
        "LoadBalancerSecurityGroupId": LOAD_BALANCER_SG, "SnapshotKmsKeyArn": KMS_KEY,
        "OperatorRoleArn": OPERATOR_ROLE,
        "OwnerEmail": "owner@example.com", "VpcEgress": "endpoints", "RouteTableIds": ",".join(ROUTE_TABLES),
    },
    # Created gateway, reconciler in the VPC too (reads the created token from Secrets Manager).
    "create-gateway-probe-in-vpc": {
        "CreateGateway": "true", "ProbeInVpc": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS[:2]),
        "VpcEgress": "endpoints", "RouteTableIds": ",".join(ROUTE_TABLES),
    },
    "create-gateway-probe-in-vpc-nat": {
        "CreateGateway": "true", "ProbeInVpc": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS[:2]), **_NAT,
    },
    # Created gateway with everything it can have: Bedrock on three models (a foundation model, a US and a
    # global inference profile), model API keys from a secret encrypted with the owner's key, and an
    # internet-facing HTTPS load balancer in two public subnets, which the reconciler probes through.
    "create-gateway-alb-bedrock-keys": {
        "CreateGateway": "true", "VpcId": VPC, "SubnetIds": ",".join(SUBNETS[:2]),
        "VpcEgress": "endpoints", "RouteTableIds": ROUTE_TABLES[0],
        "EnableBedrock": "true", "BedrockModelIds": ",".join(BEDROCK_MODELS),
        "ModelApiKeysSecretArn": MODEL_KEYS_SECRET, "ModelApiKeyNames": ",".join(MODEL_KEY_NAMES),
        "ModelApiKeysKmsKeyArn": MODEL_KEYS_KMS_KEY,
        "CreateLoadBalancer": "true", "CertificateArn": CERTIFICATE, "PublicSubnetIds": ",".join(PUBLIC_SUBNETS),
        "LoadBalancerDomainName": DOMAIN, "OwnerEmail": "owner@example.com",
    },
}

# The template requires OwnerEmail (an address, or `none` said explicitly): modes without one say none.
for _values in MODES.values():
    _values.setdefault("OwnerEmail", "none")


def template_path() -> pathlib.Path:
    """The template the checks read: $CLAWKEEPER_TEMPLATE, else template.yaml at the repo root."""
    return pathlib.Path(os.environ.get("CLAWKEEPER_TEMPLATE") or ROOT / "template.yaml").resolve()


@functools.lru_cache(maxsize=4)
def _source(path: str) -> str:
    """The parsed template as JSON text (cfn-lint's YAML loader understands the short intrinsics)."""
    from cfnlint.decode import decode

    template, matches = decode(path)
    if matches:
        raise ValueError(f"{path} does not parse: {matches}")
    return json.dumps(template)


def source() -> dict:
    """The untransformed template (a fresh copy)."""
    return json.loads(_source(str(template_path())))


def parameters(mode: str, params: dict | None = None) -> dict[str, str]:
    """The effective parameter values of a mode: the template's defaults, then MODES[mode], then
    `params`. Only parameters the template declares are kept. Values stay strings, as given."""
    declared = source().get("Parameters", {})
    given = {**MODES[mode], **(params or {})}
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = str(given[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise ValueError(f"mode {mode}: parameter {name} has no default and no value")
    return values


class _ManagedPolicies:
    """The AWS managed policies SAM may name, for the offline transform (no IAM call)."""

    def load(self):
        base = "arn:aws:iam::aws:policy/service-role/"
        return {n: base + n for n in ["AWSLambdaVPCAccessExecutionRole", "AWSLambdaBasicExecutionRole"]}


@functools.lru_cache(maxsize=64)
def _transformed(path: str, mode: str, params_json: str) -> str:
    from samtranslator.translator.transform import transform as sam_transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    template = json.loads(_source(path))
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://clawkeeper-artifacts/code.zip"
    values = {**PSEUDO, **json.loads(params_json)}
    return json.dumps(sam_transform(template, values, _ManagedPolicies()))


def transformed(mode: str, params: dict | None = None) -> dict:
    """The SAM-transformed template of a mode: what `sam deploy` sends (CloudFormation runs the
    same transform with the stack's parameter values). Intrinsic functions are left in place.
    `CodeUri` is replaced by a fixed S3 location, as `sam package` would."""
    values = parameters(mode, params)
    return json.loads(_transformed(str(template_path()), mode, json.dumps(values, sort_keys=True)))


# ----------------------------------------------------------------------------- resolving
class TemplateError(ValueError):
    """What CloudFormation would refuse: a reference to a resource that does not exist in the
    mode, an unknown parameter or condition, an intrinsic used wrongly."""


_NO_VALUE = object()


def _h(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _uuid(logical: str) -> str:
    d = _h("uuid", logical, n=32)
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}"


def _arn(service: str, rest: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{rest}"


class _Resolver:
    def __init__(self, template: dict, values: dict[str, str], names: dict[str, str]):
        self.t = template
        self.names = dict(names)
        self.params: dict[str, object] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = values.get(name, spec.get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no value")
            value = str(value)
            if spec.get("Type") == "CommaDelimitedList" or str(spec.get("Type", "")).startswith("List<"):
                value = value.split(",")  # "" is [""], as CloudFormation gives it
            self.params[name] = value
        self.conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._names_cache: dict[str, str] = {}
        # The resources the value being resolved refers to (Ref, GetAtt, Sub), for dependencies().
        self.touched: set[str] = set()

    # -- conditions
    def condition(self, name: str) -> bool:
        if name in self.conditions:
            return self.conditions[name]
        if name not in self.t.get("Conditions", {}):
            raise TemplateError(f"unknown condition {name}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name} refers to itself")
        self._evaluating.add(name)
        value = self._cond(self.t["Conditions"][name])
        self._evaluating.discard(name)
        self.conditions[name] = value
        return value

    def _cond(self, expr) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return _s(a) == _s(b)
            if fn == "Fn::And":
                return all(self._cond(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._cond(x) for x in arg)
            if fn == "Fn::Not":
                return not self._cond(arg[0])
        if isinstance(expr, bool):
            return expr
        raise TemplateError(f"not a condition: {expr!r}")

    # -- physical names and attributes
    def exists(self, logical: str) -> bool:
        r = self.t["Resources"].get(logical)
        return r is not None and ("Condition" not in r or self.condition(r["Condition"]))

    def _resource(self, logical: str) -> dict:
        self.touched.add(logical)
        if logical not in self.t["Resources"]:
            raise TemplateError(f"reference to unknown resource {logical}")
        if not self.exists(logical):
            raise TemplateError(f"reference to {logical}, which is not created in this mode")
        return self.t["Resources"][logical]

    def _prop(self, logical: str, key: str):
        """A property of another resource, for its name: what it refers to is not a dependency of
        the value being resolved."""
        props = self.t["Resources"][logical].get("Properties", {}) or {}
        if key in props:
            saved = set(self.touched)
            try:
                v = self.value(props[key])
            finally:
                self.touched = saved
            return None if v is _NO_VALUE else v
        return None

    def name(self, logical: str) -> str:
        """The physical name (or id) of a resource."""
        if logical in self._names_cache:
            return self._names_cache[logical]
        r = self._resource(logical)
        given = self.names.get(logical)
        kind = r["Type"]
        explicit_key = {
            "AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName", "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
            "AWS::SecretsManager::Secret": "Name", "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::ECS::Cluster": "ClusterName", "AWS::ECS::Service": "ServiceName",
            "AWS::ECS::TaskDefinition": "Family", "AWS::Events::Rule": "Name", "AWS::Scheduler::Schedule": "Name",
            "AWS::CloudWatch::Alarm": "AlarmName", "AWS::CloudWatch::Dashboard": "DashboardName",
            "AWS::KMS::Alias": "AliasName",
            "AWS::EC2::SecurityGroup": None,
            "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name", "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
        }.get(kind)
        if given is not None:
            value = str(given)
        elif explicit_key and self._prop(logical, explicit_key) is not None:
            value = str(self._prop(logical, explicit_key))
        else:
            value = self._placeholder(logical, kind)
        self._names_cache[logical] = value
        return value

    def _placeholder(self, logical: str, kind: str) -> str:
        ids = {
            "AWS::EC2::SecurityGroup": "sg-", "AWS::EC2::VPCEndpoint": "vpce-", "AWS::EFS::FileSystem": "fs-",
            "AWS::EFS::AccessPoint": "fsap-", "AWS::EFS::MountTarget": "fsmt-", "AWS::EC2::Subnet": "subnet-",
            "AWS::EC2::SecurityGroupIngress": "sgr-", "AWS::EC2::SecurityGroupEgress": "sgr-",
        }
        if kind in ids:
            return ids[kind] + _h(logical)
        if kind == "AWS::KMS::Key":
            return _uuid(logical)
        if kind == "AWS::KMS::Alias":
            return f"alias/{STACK}-{logical}"
        if kind == "AWS::Logs::LogGroup":
            return f"{STACK}-{logical}-{_h(logical, n=12).upper()}"
        if kind == "AWS::S3::Bucket":
            return f"{STACK}-{logical}-{_h(logical, n=12)}".lower()
        if kind in ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup"):
            # At most 32 characters: CloudFormation shortens the stack and logical id in these names.
            return f"{STACK[:6]}-{logical[:5]}-{_h(logical, n=12).upper()}"
        # CloudFormation's generated names: <stack>-<logical id>-<random>.
        return f"{STACK}-{logical}-{_h(logical, n=12).upper()}"

    def _topic_arn(self, logical: str) -> str:
        n = self.name(logical)
        return n if n.startswith("arn:") else _arn("sns", n)

    def _secret_arn(self, logical: str) -> str:
        n = self.name(logical)
        return n if n.startswith("arn:") else _arn("secretsmanager", f"secret:{n}-{_h(logical, n=6)}")

    def ref(self, logical: str):
        r = self._resource(logical)
        kind = r["Type"]
        n = self.name(logical)
        if kind == "AWS::SNS::Topic":
            return self._topic_arn(logical)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{n}"
        if kind == "AWS::SecretsManager::Secret":
            return self._secret_arn(logical)
        if kind == "AWS::ECS::Service":
            cluster = self._prop(logical, "Cluster") or "default"
            cluster = cluster.rsplit("/", 1)[-1]
            return _arn("ecs", f"service/{cluster}/{n}")
        if kind == "AWS::ECS::TaskDefinition":
            return _arn("ecs", f"task-definition/{n}:1")
        if kind == "AWS::SNS::Subscription":
            topic = self._prop(logical, "TopicArn") or _arn("sns", "topic")
            return f"{topic}:{_uuid(logical)}"
        if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            return _arn("elasticloadbalancing", f"loadbalancer/app/{n}/{_h(logical, n=16)}")
        if kind == "AWS::ElasticLoadBalancingV2::TargetGroup":
            return _arn("elasticloadbalancing", f"targetgroup/{n}/{_h(logical, n=16)}")
        if kind == "AWS::ElasticLoadBalancingV2::Listener":
            lb = str(self._prop(logical, "LoadBalancerArn") or "loadbalancer/app/lb/0")
            return _arn("elasticloadbalancing", f"listener/{lb.split(':loadbalancer/', 1)[-1]}/{_h(logical, n=16)}")
        return n

    def getatt(self, logical: str, attr: str):
        r = self._resource(logical)
        kind = r["Type"]
        n = self.name(logical)
        if kind == "AWS::DynamoDB::Table":
            arn = _arn("dynamodb", f"table/{n}")
            return {"Arn": arn, "StreamArn": f"{arn}/stream/2024-01-01T00:00:00.000"}.get(attr, f"{n}.{attr}")
        if kind == "AWS::S3::Bucket":
            return {"Arn": f"arn:{PARTITION}:s3:::{n}", "DomainName": f"{n}.s3.amazonaws.com",
                    "RegionalDomainName": f"{n}.s3.{REGION}.amazonaws.com"}.get(attr, f"{n}.{attr}")
        if kind == "AWS::SNS::Topic":
            arn = self._topic_arn(logical)
            return {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}.get(attr, f"{n}.{attr}")
        if kind == "AWS::SQS::Queue":
            return {"Arn": _arn("sqs", n), "QueueName": n, "QueueUrl": self.ref(logical)}.get(attr, f"{n}.{attr}")
        if kind == "AWS::Lambda::Function":
            return {"Arn": _arn("lambda", f"function:{n}")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::IAM::Role":
            return {"Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{n}", "RoleId": "AROA" + _h(logical, n=17).upper()}.get(attr, f"{n}.{attr}")
        if kind == "AWS::KMS::Key":
            return {"Arn": _arn("kms", f"key/{n}"), "KeyId": n}.get(attr, f"{n}.{attr}")
        if kind == "AWS::SecretsManager::Secret":
            return {"Id": self._secret_arn(logical)}.get(attr, f"{n}.{attr}")
        if kind == "AWS::EFS::FileSystem":
            return {"Arn": _arn("elasticfilesystem", f"file-system/{n}"), "FileSystemId": n}.get(attr, f"{n}.{attr}")
        if kind == "AWS::EFS::AccessPoint":
            return {"Arn": _arn("elasticfilesystem", f"access-point/{n}"), "AccessPointId": n}.get(attr, f"{n}.{attr}")
        if kind == "AWS::EFS::MountTarget":
            return {"IpAddress": "10.0.0.10"}.get(attr, f"{n}.{attr}")
        if kind == "AWS::Logs::LogGroup":
            return {"Arn": _arn("logs", f"log-group:{n}:*")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ECS::Cluster":
            return {"Arn": _arn("ecs", f"cluster/{n}")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ECS::Service":
            return {"ServiceArn": self.ref(logical), "Name": n}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ECS::TaskDefinition":
            return {"TaskDefinitionArn": self.ref(logical)}.get(attr, f"{n}.{attr}")
        if kind == "AWS::EC2::SecurityGroup":
            return {"GroupId": n, "VpcId": self._prop(logical, "VpcId")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::EC2::VPCEndpoint":
            return {"Id": n, "DnsEntries": [f"{n}.example.vpce.amazonaws.com"],
                    "NetworkInterfaceIds": [f"eni-{_h(logical, 'eni')}"]}.get(attr, f"{n}.{attr}")
        if kind == "AWS::Events::Rule":
            return {"Arn": _arn("events", f"rule/{n}")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::Scheduler::Schedule":
            return {"Arn": _arn("scheduler", f"schedule/default/{n}")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::CloudWatch::Alarm":
            return {"Arn": _arn("cloudwatch", f"alarm:{n}")}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            arn = self.ref(logical)
            return {"LoadBalancerArn": arn, "LoadBalancerName": n, "LoadBalancerFullName": arn.split(":loadbalancer/", 1)[1],
                    "DNSName": f"{n}-{int(_h(logical, n=8), 16) % 10**10}.{REGION}.elb.amazonaws.com".lower(),
                    # Application Load Balancers' hosted zone in us-east-1.
                    "CanonicalHostedZoneID": "Z35SXDOTRQ7X7K",
                    "SecurityGroups": self._prop(logical, "SecurityGroups") or []}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ElasticLoadBalancingV2::TargetGroup":
            arn = self.ref(logical)
            return {"TargetGroupArn": arn, "TargetGroupName": n,
                    "TargetGroupFullName": arn.split(":", 5)[5]}.get(attr, f"{n}.{attr}")
        if kind == "AWS::ElasticLoadBalancingV2::Listener":
            return {"ListenerArn": self.ref(logical)}.get(attr, f"{n}.{attr}")
        if attr == "Arn":
            service = kind.split("::")[1].lower()
            return _arn(service, n)
        return f"{n}.{attr}"

    # -- values
    def ref_any(self, name: str):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NotificationARNs":
            return []
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.params:
            return self.params[name]
        return self.ref(name)

    def sub(self, text: str, extra: dict) -> str:
        def one(m):
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in extra:
                return _s(extra[inner])
            if "." in inner and inner.split(".", 1)[0] not in PSEUDO:
                logical, attr = inner.split(".", 1)
                return _s(self.getatt(logical, attr))
            return _s(self.ref_any(inner))

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def value(self, v):
        """Resolves one value; _NO_VALUE for AWS::NoValue."""
        if isinstance(v, list):
            out = [self.value(x) for x in v]
            return [x for x in out if x is not _NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return self.ref_any(arg)
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if fn == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.getatt(logical, self.value(attr))
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.value(x) for k, x in variables.items()})
            if fn == "Fn::Join":
                sep, items = arg
                items = self.value(items)
                if not isinstance(items, list):
                    raise TemplateError(f"Fn::Join of a non-list {items!r}")
                return self.value(sep).join(_s(x) for x in items)
            if fn == "Fn::Select":
                index, items = self.value(arg[0]), self.value(arg[1])
                index = int(index)
                if not isinstance(items, list) or not 0 <= index < len(items):
                    raise TemplateError(f"Fn::Select index {index} out of range of {items!r}")
                return items[index]
            if fn == "Fn::Split":
                sep, text = self.value(arg[0]), self.value(arg[1])
                return _s(text).split(sep)
            if fn == "Fn::FindInMap":
                m, k1, k2 = (self.value(x) for x in arg[:3])
                try:
                    return copy.deepcopy(self.t["Mappings"][m][_s(k1)][_s(k2)])
                except KeyError as e:
                    raise TemplateError(f"Fn::FindInMap {m}/{k1}/{k2}: no such key") from e
            if fn == "Fn::GetAZs":
                return list(AZS)
            if fn == "Fn::Base64":
                import base64
                return base64.b64encode(_s(self.value(arg)).encode()).decode()
            if fn == "Fn::Cidr":
                raise TemplateError("Fn::Cidr is not resolved here")
            if fn == "Fn::ImportValue":
                return f"import:{self.value(arg)}"
            if fn == "Condition":
                return self.condition(arg)
        out = {}
        for k, x in v.items():
            rx = self.value(x)
            if rx is not _NO_VALUE:
                out[k] = rx
        return out


# Types whose Fn::GetAtt Arn this module answers as AWS does.
_ARN_ATTRIBUTE = {
    "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::IAM::Role",
    "AWS::KMS::Key", "AWS::EFS::FileSystem", "AWS::EFS::AccessPoint", "AWS::Logs::LogGroup", "AWS::ECS::Cluster",
    "AWS::Events::Rule", "AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm",
}


def _s(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(_s(x) for x in v)
    return str(v)


def _resolve_template(template: dict, values: dict[str, str], names: dict[str, str], deps: dict | None = None,
                      ids: dict | None = None) -> dict:
    r = _Resolver(template, values, names)
    for name in template.get("Conditions", {}):
        r.condition(name)
    resources = {}
    for logical, res in template["Resources"].items():
        if not r.exists(logical):
            continue
        r.touched = set()
        out = {"Type": res["Type"]}
        for key in ("Properties", "Metadata", "CreationPolicy", "UpdatePolicy"):
            if key in res:
                try:
                    value = r.value(res[key])
                except TemplateError as e:
                    raise TemplateError(f"{logical}.{key}: {e}") from None
                if value is not _NO_VALUE:
                    out[key] = value
        for key in ("DeletionPolicy", "UpdateReplacePolicy"):
            if key in res:
                out[key] = r.value(res[key])
        if "DependsOn" in res:
            depends_on = res["DependsOn"] if isinstance(res["DependsOn"], list) else [res["DependsOn"]]
            for d in depends_on:
                if not r.exists(d):
                    raise TemplateError(f"{logical}.DependsOn: {d} is not created in this mode")
            out["DependsOn"] = list(depends_on)
        if deps is not None:
            deps[logical] = r.touched | set(out.get("DependsOn", []))
        resources[logical] = out
    if ids is not None:
        for logical in resources:
            entry = {"Ref": r.ref(logical)}
            if resources[logical]["Type"] in _ARN_ATTRIBUTE:
                entry["Arn"] = r.getatt(logical, "Arn")
            ids[logical] = entry
    outputs = {}
    for name, o in template.get("Outputs", {}).items():
        if "Condition" in o and not r.condition(o["Condition"]):
            continue
        try:
            outputs[name] = {k: r.value(x) for k, x in o.items() if k != "Condition"}
        except TemplateError as e:
            raise TemplateError(f"Outputs.{name}: {e}") from None
    result = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if "Description" in template:
        result["Description"] = template["Description"]
    if outputs:
        result["Outputs"] = outputs
    return result


def resolved(mode: str, names: dict | None = None, params: dict | None = None) -> dict:
    """The SAM-transformed template of `mode` as CloudFormation would create it: parameters
    substituted (defaults, then MODES[mode], then `params`, e.g. {"GatewayId": "gw1"}),
    Conditions evaluated (resources and outputs whose condition is false are left out), and
    Fn::If, Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap and the pseudo
    parameters (AWS::Partition=aws, AWS::Region=us-east-1, AWS::AccountId=123456789012,
    AWS::StackName=clawkeeper; AWS::NoValue removes the key or list item) resolved to concrete values.

    `names` maps a logical id to its physical name, e.g. {"StateTable": "clawkeeper-test",
    "SnapshotBucket": "clawkeeper-test-snapshots", "SnapshotFunction": "snapshot", "AlertTopic":
    "arn:aws:sns:us-east-1:123456789012:clawkeeper-test", "GatewayTokenSecret": "arn:aws:secretsmanager:..."}.
    Ref and GetAtt then answer what AWS answers for that type: a table's Ref is its name and its Arn
    arn:aws:dynamodb:...:table/<name>; a bucket's Arn arn:aws:s3:::<name>; a topic's and a secret's Ref
    their ARN (give the ARN, or a name to build one from); a queue's Ref its URL, Arn and QueueName;
    a function's Ref its name and Arn ...:function:<name>; a role's Arn ...:role/<name>; a KMS key's
    Ref its key id and Arn ...:key/<id>; an EFS access point's Ref fsap-... and Arn; a load balancer's,
    target group's and listener's Ref their ELB ARN (and the load balancer's DNSName, CanonicalHostedZoneID
    as ELB answers them). A resource not named
    gets an explicit name from its properties (e.g. the created cluster's ClusterName) or a
    deterministic placeholder (<stack>-<LogicalId>-<hash>, sg-<hash>, a uuid for KMS keys, ...).

    Raises TemplateError where CloudFormation would fail the stack: a Ref, GetAtt or DependsOn
    to a resource whose condition is false in this mode, an Fn::Select out of range, etc."""
    values = parameters(mode, params)
    return _resolve_template(transformed(mode, params), values, names or {})


def physical_ids(mode: str, names: dict | None = None, params: dict | None = None) -> dict[str, dict]:
    """For each resource resolved(mode, names, params) creates: {"Ref": what Ref answers, "Arn": its
    ARN (GetAtt Arn, or the Ref where that is the ARN) when it has one}. E.g. the table's
    {"Ref": "clawkeeper-test", "Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/clawkeeper-test"}."""
    ids: dict[str, dict] = {}
    _resolve_template(transformed(mode, params), parameters(mode, params), names or {}, None, ids)
    for entry in ids.values():
        if "Arn" not in entry and isinstance(entry["Ref"], str) and entry["Ref"].startswith("arn:"):
            entry["Arn"] = entry["Ref"]
    return ids


def dependencies(mode: str, params: dict | None = None) -> dict[str, set[str]]:
    """Direct CREATE-order dependencies of each resource of the mode's transformed template, as
    CloudFormation derives them: DependsOn, and every Ref, Fn::GetAtt and Fn::Sub reference in the
    branches of Fn::If the mode takes (in Properties and Metadata alike)."""
    deps: dict[str, set[str]] = {}
    _resolve_template(transformed(mode, params), parameters(mode, params), {}, deps)
    return deps


def depends_on(deps: dict[str, set[str]], logical: str) -> set[str]:
    """Everything `logical` waits for, directly or through other resources."""
    seen: set[str] = set()
    todo = list(deps.get(logical, ()))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(deps.get(d, ()))
    return seen


def resolve_source(mode: str, names: dict | None = None, params: dict | None = None) -> dict:
    """Like resolved(), but of the untransformed template's non-SAM parts (for quick looks)."""
    t = source()
    t["Resources"] = {k: v for k, v in t["Resources"].items() if not v["Type"].startswith("AWS::Serverless::")}
    return _resolve_template(t, parameters(mode, params), names or {})


# ----------------------------------------------------------------------------- Rules
RULE_FUNCTIONS = {
    "Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals", "Fn::Not",
    "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll",
}


def _rule_value(r: _Resolver, expr):
    if isinstance(expr, list):
        return [_rule_value(r, x) for x in expr]
    if not isinstance(expr, dict):
        return expr
    (fn, arg), = expr.items()
    if fn == "Ref":
        return r.ref_any(arg)
    if fn == "Fn::Equals":
        a, b = (_rule_value(r, x) for x in arg)
        return _s(a) == _s(b)
    if fn == "Fn::And":
        return all(_rule_value(r, x) for x in arg)
    if fn == "Fn::Or":
        return any(_rule_value(r, x) for x in arg)
    if fn == "Fn::Not":
        return not _rule_value(r, arg[0])
    if fn == "Fn::Contains":
        items, one = _rule_value(r, arg[0]), _rule_value(r, arg[1])
        return _s(one) in [_s(x) for x in items]
    if fn == "Fn::EachMemberEquals":
        items, one = _rule_value(r, arg[0]), _rule_value(r, arg[1])
        return all(_s(x) == _s(one) for x in items)
    if fn == "Fn::EachMemberIn":
        items, allowed = _rule_value(r, arg[0]), _rule_value(r, arg[1])
        return all(_s(x) in [_s(a) for a in allowed] for x in items)
    raise TemplateError(f"{fn} is not evaluated offline (or not allowed in Rules)")


def rule_failures(mode: str, params: dict | None = None) -> list[str]:
    """What CloudFormation refuses before creating anything, for the mode's parameter values: each
    parameter's AllowedValues / AllowedPattern (each entry of a list), then the AssertDescription of
    each Rules assertion that fails. Empty: the values are accepted. Raises TemplateError on a
    function Rules do not allow."""
    t = source()
    values = parameters(mode, params)
    failed = []
    for name, spec in t.get("Parameters", {}).items():
        items = values[name].split(",") if spec.get("Type") == "CommaDelimitedList" else [values[name]]
        for item in items:
            if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
                failed.append(f"Parameters.{name}: {item!r} is not one of {spec['AllowedValues']}")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
                failed.append(f"Parameters.{name}: {item!r} does not match {spec['AllowedPattern']}")
    r = _Resolver(t, values, {})
    for name, rule in t.get("Rules", {}).items():
        if "RuleCondition" in rule and not _rule_value(r, rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(r, assertion["Assert"]):
                failed.append(f"{name}: {assertion.get('AssertDescription', assertion['Assert'])}")
    return failed
