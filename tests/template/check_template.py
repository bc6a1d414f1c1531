"""Checks of template.yaml that cfn-lint does not make: least privilege, data protection, the
watchdog's wiring, and the ECS event pattern routed through EventBridge (moto) with the sample
events. Run by `make test` with the project's venv: `.venv/bin/python tests/template/check_template.py`
(another template: CLAWKEEPER_TEMPLATE=path). The per-mode checks of the template as CloudFormation
creates it are in check_modes.py; the modes themselves in modes.py.
"""
import json
import logging
import os
import pathlib
import sys
import unittest

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import modes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
logging.getLogger("werkzeug").setLevel(logging.ERROR)
# The SAM transform resolves pseudo parameters from the environment; nothing is sent anywhere.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
FIXTURES = ROOT / "tests" / "fixtures" / "events"
SUBS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "ClusterName": "openclaw",
    "ServiceName": "openclaw-gateway",
    "GatewayId": "home",
}


def load_template():
    """The untransformed template (modes.template_path())."""
    return modes.source()


def resolve(value):
    """Resolves the Fn::Sub strings of an event pattern with the sample account and names."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, sub in SUBS.items():
                text = text.replace("${" + name + "}", sub)
            return text
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def statements(template):
    """Every IAM statement of the template: SAM function policies and IAM roles."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for policy in props.get("Policies", []) or []:
            for doc in _documents(policy):
                for st in doc.get("Statement", []):
                    yield name, st


def _documents(policy):
    if isinstance(policy, dict):
        if "Statement" in policy:
            yield policy
        if "PolicyDocument" in policy:
            yield policy["PolicyDocument"]
        if "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                yield from _documents(branch)


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = load_template()
        cls.resources = cls.t["Resources"]

    def test_no_wildcard_actions(self):
        seen = 0
        for name, st in statements(self.t):
            actions = st.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            for action in actions:
                seen += 1
                self.assertNotEqual(action, "*", f"{name}: wildcard action")
                if st.get("Effect") == "Allow":
                    self.assertFalse(str(action).endswith(":*"), f"{name}: service-wide action {action}")
        self.assertGreater(seen, 20, "the walk found the policies")

    def test_every_function_is_a_workspace_binary_built_with_cargo_lambda(self):
        functions = {n: r for n, r in self.resources.items() if r["Type"] == "AWS::Serverless::Function"}
        binaries = {r["Metadata"]["BuildProperties"]["Binary"] for r in functions.values()}
        crates = {p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists()}
        self.assertEqual(binaries, crates)
        for name, r in functions.items():
            self.assertEqual(r["Metadata"]["BuildMethod"], "rust-cargolambda", name)
        glob = self.t["Globals"]["Function"]
        self.assertEqual(glob["Runtime"], "provided.al2023")
        self.assertEqual(glob["Handler"], "bootstrap")
        self.assertEqual(glob["LoggingConfig"]["LogFormat"], "JSON")
        env = glob["Environment"]["Variables"]
        for var in ["CLAWKEEPER_TABLE", "CLAWKEEPER_TOPIC_ARN", "CLAWKEEPER_BUCKET", "CLAWKEEPER_GATEWAYS", "CLAWKEEPER_POLICY",
                    "CLAWKEEPER_SNAPSHOT_INTERVAL_SECS", "CLAWKEEPER_TOKEN_SECRET_PREFIX", "CLAWKEEPER_WATCHED_CLUSTERS"]:
            self.assertIn(var, env)
        # The fleet: registered gateways run in the watched cluster and keep their tokens under the stack's prefix.
        self.assertEqual(env["CLAWKEEPER_WATCHED_CLUSTERS"], {"Ref": "ClusterName"})
        self.assertTrue(env["CLAWKEEPER_TOKEN_SECRET_PREFIX"]["Fn::Sub"].endswith(":secret:clawkeeper/${AWS::StackName}/"))

    def test_only_snapshot_restore_and_optionally_reconciler_join_the_vpc(self):
        for name, r in self.resources.items():
            if r["Type"] != "AWS::Serverless::Function":
                continue
            in_vpc = "VpcConfig" in r["Properties"]
            expected = name in {"SnapshotFunction", "RestoreFunction", "ReconcilerFunction"}
            self.assertEqual(in_vpc, expected, name)

    def test_snapshot_bucket_is_private_encrypted_versioned_and_tls_only(self):
        b = self.resources["SnapshotBucket"]["Properties"]
        self.assertTrue(all(b["PublicAccessBlockConfiguration"].values()))
        self.assertEqual(b["VersioningConfiguration"]["Status"], "Enabled")
        self.assertIn("ServerSideEncryptionConfiguration", b["BucketEncryption"])
        rules = {r["Id"]: r for r in b["LifecycleConfiguration"]["Rules"]}
        self.assertIn("AbortIncompleteMultipartUpload", rules["abort-incomplete-multipart-uploads"])
        self.assertIn("NoncurrentVersionExpiration", rules["expire-noncurrent-versions"])
        policy = self.resources["SnapshotBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual(policy["Effect"], "Deny")
        self.assertEqual(policy["Condition"]["Bool"]["aws:SecureTransport"], "false")

    def test_table_and_alarms(self):
        table = self.resources["StateTable"]["Properties"]
        self.assertEqual([k["AttributeName"] for k in table["KeySchema"]], ["pk", "sk"])
        self.assertEqual(table["TimeToLiveSpecification"]["AttributeName"], "expires_at")
        self.assertTrue(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        heartbeat = self.resources["ReconcilerHeartbeatAlarm"]["Properties"]
        self.assertEqual(heartbeat["TreatMissingData"], "breaching")
        self.assertEqual(heartbeat["MetricName"], "ReconcilerHeartbeat")
        for alarm in ["DeadLetterQueueAlarm", "StaleSnapshotAlarm", "TaskEventsErrorsAlarm", "GatewaysDownAlarm"]:
            self.assertIn(alarm, self.resources)
        self.assertEqual(self.resources["FleetDashboard"]["Type"], "AWS::CloudWatch::Dashboard")
        self.assertIn("DashboardUrl", self.t["Outputs"])

    def test_created_gateway_is_a_single_writer_on_arm64_with_a_json_health_check(self):
        svc = self.resources["GatewayService"]["Properties"]
        self.assertEqual(svc["DesiredCount"], 1)
        dc = svc["DeploymentConfiguration"]
        self.assertEqual((dc["MinimumHealthyPercent"], dc["MaximumPercent"]), (0, 100))
        self.assertTrue(dc["DeploymentCircuitBreaker"]["Enable"])
        td = self.resources["GatewayTaskDefinition"]["Properties"]
        self.assertEqual(td["RuntimePlatform"]["CpuArchitecture"], "ARM64")
        container = td["ContainerDefinitions"][0]
        self.assertIn("--bind", container["Command"])
        self.assertEqual(container["MountPoints"][0]["ContainerPath"], "/home/node")
        check = " ".join(container["HealthCheck"]["Command"])
        self.assertIn("/healthz", check)
        self.assertIn("j.ok===true", check, "the health check asserts the JSON body")
        ap = self.resources["GatewayAccessPoint"]["Properties"]
        self.assertEqual(ap["PosixUser"], {"Uid": "1000", "Gid": "1000"})
        self.assertTrue(self.resources["GatewayFileSystem"]["Properties"]["Encrypted"])

    def test_conditions_use_only_what_cloudformation_allows_in_conditions(self):
        # CloudFormation evaluates Conditions before any resource exists: condition functions, and in
        # Fn::Equals only Ref (of parameters), Fn::FindInMap, Fn::Sub, Fn::Join, Fn::Select and Fn::Split
        # (cfn-lint's schema of Fn::Equals in conditions). The padded Fn::Select slots (subnets, Bedrock
        # models, model keys) are such expressions; modes.py's resolver evaluates each of them.
        in_equals = {"Ref", "Fn::FindInMap", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split"}
        parameters = set(self.t["Parameters"]) | {"AWS::Region", "AWS::Partition", "AWS::AccountId", "AWS::StackName",
                                                  "AWS::URLSuffix"}
        problems = []

        def value(v, where):
            if isinstance(v, list):
                for x in v:
                    value(x, where)
            elif isinstance(v, dict):
                for k, x in v.items():
                    if k == "Ref" and x not in parameters:
                        problems.append(f"{where}: Ref {x} is not a parameter")
                    if k.startswith("Fn::") or k == "Ref":
                        if k not in in_equals:
                            problems.append(f"{where}: {k} in Fn::Equals")
                    if k == "Fn::Sub" and isinstance(x, list):
                        value(list(x[1].values()), where)
                    elif k != "Fn::Sub":
                        value(x, where)

        def cond(c, where):
            (fn, arg), = c.items()
            if fn == "Condition":
                self.assertIn(arg, self.t["Conditions"], where)
            elif fn == "Fn::Equals":
                value(arg, where)
            elif fn in ("Fn::And", "Fn::Or"):
                for x in arg:
                    cond(x, where)
            elif fn == "Fn::Not":
                [x] = arg
                cond(x, where)
            else:
                problems.append(f"{where}: {fn} is not a condition function")

        for name, c in self.t["Conditions"].items():
            cond(c, name)
        self.assertEqual(problems, [])
        self.assertGreaterEqual(len([n for n in self.t["Conditions"] if n.startswith("HasBedrockModel")]), 5)

    def test_the_created_load_balancers_outputs_name_what_to_point_the_domain_at(self):
        outputs = self.t["Outputs"]
        self.assertEqual(outputs["LoadBalancerDnsName"]["Value"], {"Fn::GetAtt": ["GatewayLoadBalancer", "DNSName"]})
        self.assertEqual(outputs["LoadBalancerHostedZoneId"]["Value"],
                         {"Fn::GetAtt": ["GatewayLoadBalancer", "CanonicalHostedZoneID"]})
        for name in ("LoadBalancerDnsName", "LoadBalancerHostedZoneId", "GatewayUrl"):
            self.assertEqual(outputs[name]["Condition"], self.resources["GatewayLoadBalancer"]["Condition"], name)


class Transformed(unittest.TestCase):
    """Assertions on the SAM-transformed template: every function really gets a role without `*`
    actions (in every mode), and the triggers SAM generates carry retries and the dead-letter queue."""

    @classmethod
    def setUpClass(cls):
        cls.t = modes.transformed("defaults")
        cls.resources = cls.t["Resources"]

    def test_every_function_role_is_least_privilege(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                resources = modes.resolved(mode)["Resources"]
                ids = modes.physical_ids(mode)
                roles = {ids[n]["Arn"]: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
                functions = [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
                self.assertEqual(len(functions), 6, functions)
                for name in functions:
                    role = roles[resources[name]["Properties"]["Role"]]
                    managed = role.get("ManagedPolicyArns", [])
                    self.assertTrue(any(m.endswith("/AWSLambdaBasicExecutionRole") for m in managed), name)
                    for policy in role.get("Policies", []):
                        for st in policy["PolicyDocument"].get("Statement", []):
                            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                            for action in actions:
                                self.assertNotEqual(action, "*", f"{name}: {st}")
                                self.assertFalse(str(action).endswith(":*"), f"{name}: {st}")

    def test_the_ecs_rule_retries_and_dead_letters(self):
        rules = [r for r in self.resources.values() if r["Type"] == "AWS::Events::Rule"]
        ecs = [r for r in rules if "aws.ecs" in json.dumps(r["Properties"].get("EventPattern", {}))]
        self.assertEqual(len(ecs), 1)
        target = ecs[0]["Properties"]["Targets"][0]
        self.assertEqual(target["RetryPolicy"]["MaximumRetryAttempts"], 20)
        self.assertIn("DeadLetterConfig", target)

    def test_async_failures_of_task_events_go_to_the_dead_letter_queue(self):
        configs = [r for r in self.resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
        self.assertTrue(any("EventDeadLetterQueue" in json.dumps(c) for c in configs))


class EventPattern(unittest.TestCase):
    """The EcsEvents rule's pattern, routed by EventBridge in moto to a queue."""

    @classmethod
    def setUpClass(cls):
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        kw = dict(endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        cls.events = boto3.client("events", **kw)
        cls.sqs = boto3.client("sqs", **kw)
        template = load_template()
        rule = template["Resources"]["TaskEventsFunction"]["Properties"]["Events"]["EcsEvents"]["Properties"]
        cls.pattern = resolve(rule["Pattern"])
        cls.queue = cls.sqs.create_queue(QueueName="routed")["QueueUrl"]
        arn = cls.sqs.get_queue_attributes(QueueUrl=cls.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cls.events.put_rule(Name="ecs", EventPattern=json.dumps(cls.pattern))
        cls.events.put_targets(Rule="ecs", Targets=[{"Id": "q", "Arn": arn}])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def route(self, event):
        self.events.put_events(Entries=[{
            "Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": event.get("resources", []),
        }])
        got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        for m in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def test_every_ecs_sample_event_of_the_watched_cluster_is_routed(self):
        for path in sorted(FIXTURES.glob("*.json")):
            if path.name.startswith("logs-"):
                continue
            with self.subTest(path.name):
                self.assertEqual(self.route(json.loads(path.read_text())), 1, path.name)

    def test_other_clusters_and_sources_are_not_routed(self):
        event = json.loads((FIXTURES / "task-stopped-crash.json").read_text())
        other = json.loads(json.dumps(event).replace("task/openclaw/", "task/other-cluster/"))
        self.assertEqual(self.route(other), 0)
        service = json.loads((FIXTURES / "service-steady-state.json").read_text())
        other_service = json.loads(json.dumps(service).replace("service/openclaw/", "service/other/"))
        self.assertEqual(self.route(other_service), 0)
        event["source"] = "aws.ec2"
        self.assertEqual(self.route(event), 0)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
