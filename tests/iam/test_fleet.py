"""The IAM check on the calls a fleet makes (gateways registered at run time beside the seed), through
the whole check (check.py's Run: mapping, each mode's roles resolved with the test's names, the
offline evaluator): allowed in every mode where they can happen, and what the roles must refuse is
denied. The recordings are written here, in the recorder's shape, for the calls the end-to-end tests
do not make yet. Run by `make iam-coverage` (unittest discovery of tests/iam)."""
import json
import pathlib
import sys
import unittest
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check  # noqa: E402
import deployment  # noqa: E402
import mapping  # noqa: E402
import recordings  # noqa: E402

ACCOUNT, REGION = deployment.modes.ACCOUNT, deployment.modes.REGION
STACK = deployment.modes.STACK
TABLE, BUCKET = "clawkeeper-test", "clawkeeper-test-snapshots"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:clawkeeper-test"
PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:clawkeeper/{STACK}/"
ENV = {
    "AWS_REGION": REGION, "CLAWKEEPER_TABLE": TABLE, "CLAWKEEPER_BUCKET": BUCKET, "CLAWKEEPER_TOPIC_ARN": TOPIC,
    "CLAWKEEPER_GATEWAYS": json.dumps([{"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"}]),
    "CLAWKEEPER_TOKEN_SECRET_PREFIX": PREFIX, "CLAWKEEPER_WATCHED_CLUSTERS": "openclaw",
}
# gw-7 is registered at run time: in the watched cluster, its token under the stack's prefix.
GW7_TOKEN = PREFIX + "gw-7/token-AbC123"


def _call(service, body=None, method="POST", target="/", **headers) -> recordings.Call:
    if isinstance(body, dict) and service != "sns":
        body = json.dumps(body)
    elif isinstance(body, dict):
        body = urllib.parse.urlencode(body)
    return recordings.Call(where=f"test_fleet:{service}", endpoint="default", service=service, method=method,
                           target=target, headers=headers, body=body, body_truncated=False, status=200)


def ecs(op, body):
    return _call("ecs", body, **{"x-amz-target": f"AmazonEC2ContainerServiceV20141113.{op}"})


def ddb(op, body):
    return _call("dynamodb", {"TableName": TABLE, **body} if "RequestItems" not in body else body,
                 **{"x-amz-target": f"DynamoDB_20120810.{op}"})


def key(pk, sk):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def sns(form):
    return _call("sns", form, **{"content-type": "application/x-www-form-urlencoded"})


def s3(method, target):
    return _call("s3", None, method=method, target=target)


REGISTRY_QUERY = ddb("Query", {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "REGISTRY"}}})
SUBSCRIPTION = f"{TOPIC}:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"

# binary -> [(call, allowed?)]
CALLS = {
    "task-events": [
        (REGISTRY_QUERY, True),
        (ddb("GetItem", {"Key": key("GW#gw-7", "STATE")}), True),
        (ecs("UpdateService", {"cluster": "openclaw", "service": "gw-7", "desiredCount": 0}), True),
        (ecs("UpdateService", {"cluster": "elsewhere", "service": "gw-7", "desiredCount": 0}), False),
        (ddb("PutItem", {"Item": key("REGISTRY", "GW#gw-9")}), False),
    ],
    "reconciler": [
        (REGISTRY_QUERY, True),
        (ddb("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [key("GW#home", "STATE"), key("GW#home", "SNAPSHOT"),
                                                                  key("GW#gw-7", "STATE"), key("GW#gw-7", "SNAPSHOT")]}}}), True),
        (ddb("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [key("GW#gw-7", "STATE"), key("PERMIT#gw-7", "PERMIT")]}}}),
         False),
        (ecs("ListTasks", {"cluster": "openclaw"}), True),
        (ecs("ListTasks", {"cluster": "elsewhere"}), False),
        (ecs("DescribeServices", {"cluster": "openclaw", "services": ["openclaw-gateway", "gw-7"]}), True),
        (ecs("DescribeTasks", {"cluster": "openclaw", "tasks": ["t1", "t2"]}), True),
        (ecs("UpdateService", {"cluster": "openclaw", "service": "gw-7", "forceNewDeployment": True}), True),
        (_call("secretsmanager", {"SecretId": GW7_TOKEN}, **{"x-amz-target": "secretsmanager.GetSecretValue"}), True),
        (_call("secretsmanager", {"SecretId": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:clawkeeper/other/gw-AbC123"},
               **{"x-amz-target": "secretsmanager.GetSecretValue"}), False),
        # Snapshot freshness and failures come from the status items in the batch: no S3 at all.
        (s3("GET", f"/{BUCKET}?list-type=2&prefix=gw-7%2Fsnapshots%2F&x-id=ListObjectsV2"), False),
        (s3("GET", f"/{BUCKET}/gw-7/snapshots/a.json?x-id=GetObject"), False),
        (s3("GET", f"/{BUCKET}/gw-7/snapshots/a.tar.gz?x-id=GetObject"), False),
        (ddb("DeleteItem", {"Key": key("REGISTRY", "GW#gw-7")}), False),
    ],
    "log-alerts": [
        (REGISTRY_QUERY, True),
        (ecs("DescribeServices", {"cluster": "openclaw", "services": ["gw-7"]}), True),
    ],
    "snapshot": [
        (REGISTRY_QUERY, True),
        # Its status item, updated in place and read back; never a whole item put, never the registry's
        # or a permit's partition.
        (ddb("UpdateItem", {"Key": key("GW#gw-7", "SNAPSHOT"), "UpdateExpression": "SET saved_at = :saved"}), True),
        (ddb("GetItem", {"Key": key("GW#gw-7", "SNAPSHOT")}), True),
        (ddb("PutItem", {"Item": {**key("GW#gw-7", "SNAPSHOT"), "saved_at": {"N": "1"}}}), False),
        (ddb("UpdateItem", {"Key": key("REGISTRY", "GW#gw-7")}), False),
        (ddb("UpdateItem", {"Key": key("PERMIT#gw-7", "PERMIT")}), False),
        (ddb("PutItem", {"Item": key("REGISTRY", "GW#gw-7")}), False),
        (s3("PUT", f"/{BUCKET}/gw-7/snapshots/a.json?x-id=PutObject"), True),
        (s3("PUT", f"/{BUCKET}/gw-7/elsewhere.json?x-id=PutObject"), False),
    ],
    "restore": [
        (REGISTRY_QUERY, True),
        (s3("GET", f"/{BUCKET}/gw-7/snapshots/a.tar.gz?x-id=GetObject"), True),
        (ddb("DeleteItem", {"Key": key("PERMIT#gw-7", "PERMIT")}), True),
        (ddb("DeleteItem", {"Key": key("REGISTRY", "GW#gw-7")}), False),
    ],
    "control": [
        (REGISTRY_QUERY, True),
        (ddb("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [key("GW#home", "STATE"), key("GW#gw-7", "STATE")]}}}), True),
        (ddb("PutItem", {"Item": {**key("REGISTRY", "GW#gw-7"), "owner_email": {"S": "o@example.com"}}}), True),
        (ddb("PutItem", {"Item": {**key("REGISTRY", "GW#home"), "removed": {"BOOL": True}}}), True),
        (ddb("DeleteItem", {"Key": key("REGISTRY", "OWNER#o@example.com")}), True),
        (sns({"Action": "Subscribe", "TopicArn": TOPIC, "Protocol": "email", "Endpoint": "o@example.com",
              "ReturnSubscriptionArn": "true"}), True),
        (sns({"Action": "Subscribe", "TopicArn": TOPIC, "Protocol": "https", "Endpoint": "https://example.com/hook"}), False),
        (sns({"Action": "SetSubscriptionAttributes", "SubscriptionArn": SUBSCRIPTION, "AttributeName": "FilterPolicy",
              "AttributeValue": '{"gateway":["gw-7"]}'}), True),
        (sns({"Action": "Unsubscribe", "SubscriptionArn": SUBSCRIPTION}), True),
        (sns({"Action": "ListSubscriptionsByTopic", "TopicArn": TOPIC}), True),
        (ecs("DescribeServices", {"cluster": "openclaw", "services": ["gw-7"]}), True),
        (s3("GET", f"/{BUCKET}/gw-7/snapshots/a.json?x-id=GetObject"), True),
        (_call("secretsmanager", {"SecretId": GW7_TOKEN}, **{"x-amz-target": "secretsmanager.GetSecretValue"}), False),
    ],
}
MODES = ["defaults", "efs-snapshots", "probe-in-vpc-nat", "existing-all", "create-gateway", "create-gateway-lb-kms"]


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        processes = []
        for binary, calls in CALLS.items():
            p = recordings.Process(file=f"{binary}.jsonl", function=binary, binary=binary, test="fleet", env=dict(ENV))
            p.calls = [c for c, _ok in calls]
            processes.append(p)
        cls.checker = check.Run(processes, MODES)
        cls.checker.build()
        cls.results = cls.checker.evaluate()

    def test_the_fleets_calls_are_allowed_in_every_mode_and_the_rest_denied(self):
        expected = {id(c): ok for calls in CALLS.values() for c, ok in calls}
        seen = set()
        for binary, mode, call, keys, needs in self.checker.evaluations:
            decisions = [self.results[k]["decision"] for k in keys]
            allowed = all(d == "Allowed" for d in decisions)
            with self.subTest(binary=binary, mode=mode, call=[n.action + " " + n.resource for n in needs]):
                self.assertEqual(allowed, expected[id(call)], [(n.action, n.resource, n.describe_context(), d)
                                                               for n, d in zip(needs, decisions)])
            seen.add((binary, mode, id(call)))
        # Nothing here is n/a in any mode: the fleet's calls happen in every mode.
        for binary, calls in CALLS.items():
            for c, _ok in calls:
                for mode in MODES:
                    self.assertIn((binary, mode, id(c)), seen, f"{binary} [{mode}] {c.body}")

    def test_without_a_seed_the_watched_cluster_names_the_stack(self):
        names, params = deployment.names_and_params({**ENV, "CLAWKEEPER_GATEWAYS": "[]", "CLAWKEEPER_WATCHED_CLUSTERS": "fleet"}, None)
        self.assertEqual((names["StateTable"], params), (TABLE, {"ClusterName": "fleet"}))
        seed = json.loads(ENV["CLAWKEEPER_GATEWAYS"])[0]
        self.assertEqual(self.checker._gateway(mapping.Env(ENV, ACCOUNT), "gw-7"), seed, "a registered gateway: the seed's names")
        self.assertEqual(self.checker._gateway(mapping.Env(ENV, ACCOUNT), None), seed)


if __name__ == "__main__":
    unittest.main()
