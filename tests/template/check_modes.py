"""Checks of the template as CloudFormation creates it, in every parameter mode (modes.py): what
cfn-lint on the untransformed template cannot see because it lives in the SAM transform's output
or in one combination of parameters only.

Run by `make template-lint`: `.venv/bin/python tests/template/check_modes.py`. Against another
template: `CLAWKEEPER_TEMPLATE=/tmp/old.yaml .venv/bin/python tests/template/check_modes.py`.
"""
from __future__ import annotations

import fnmatch
import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import modes  # noqa: E402

# What each function's code calls over the network (read from functions/*/src and crates/aws/src):
# the clients each main.rs builds and the adapters it hands them to.
#   snapshot   functions/snapshot/src/main.rs: S3Store, and DynamoDB: the gateway registry (Query of pk
#              REGISTRY) and each gateway's snapshot status item. It never publishes: a failure is a
#              record in that item that the reconciler turns into a notice.
#   restore    functions/restore/src/main.rs: S3Store, and DynamoDB: the registry and its stop permit
#              (control checks ECS before invoking it).
#   reconciler functions/reconciler/src/main.rs: DynamoStore (DynamoDB: states, snapshot statuses),
#              SnsNotifier (SNS), EcsClient (ECS), SnapshotInvoker (Lambda Invoke, only when
#              CLAWKEEPER_SNAPSHOT_FUNCTION is set: crates/aws/src/invoke.rs), SecretsClient (Secrets
#              Manager, only for a gateway with token_secret_arn: usable_token), and the HTTP probe of
#              the task's private IP (inside the VPC, not an AWS service).
#   task-events, log-alerts, control: DynamoDB, SNS, ECS, Lambda (and control S3); never in the VPC.
# Every function reads the registry (DynamoDB). A registered gateway's token is read only where the
# subnets reach Secrets Manager: its interface endpoint is made for a created gateway's token only.
# The heartbeat and gauges are embedded-metric log lines (no CloudWatch API call); logs go through
# the Lambda service, not the function's network.
SERVICES = {
    "snapshot": {"s3", "dynamodb"},  # dynamodb: the registry, the snapshot status
    "restore": {"s3", "dynamodb"},  # dynamodb: the registry, the stop permit it takes
    "reconciler": {"dynamodb", "sns", "ecs"},
    "task-events": {"dynamodb", "sns", "ecs"},
    "log-alerts": {"dynamodb", "sns", "ecs"},
    "control": {"dynamodb", "sns", "ecs", "s3", "lambda"},
}
# Functions whose code publishes to the owner's topic (SnsNotifier).
PUBLISHERS = {"task-events", "reconciler", "log-alerts", "control"}
GATEWAY_SERVICES = {"s3", "dynamodb"}


def services_called(binary: str, env: dict) -> set[str]:
    """SERVICES plus what the function's configuration turns on."""
    called = set(SERVICES[binary])
    if env.get("CLAWKEEPER_SNAPSHOT_FUNCTION") or env.get("CLAWKEEPER_RESTORE_FUNCTION"):
        called.add("lambda")
    gateways = json.loads(env.get("CLAWKEEPER_GATEWAYS", "[]"))
    if binary == "reconciler" and any(g.get("token_secret_arn") for g in gateways):
        called.add("secretsmanager")
    return called


def of_type(t: dict, kind: str) -> dict:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def functions(t: dict) -> dict[str, tuple[str, dict]]:
    """Lambda functions of a resolved template: logical id -> (binary, properties)."""
    return {k: (v["Metadata"]["BuildProperties"]["Binary"], v["Properties"])
            for k, v in of_type(t, "AWS::Lambda::Function").items()}


def function_named(t: dict, binary: str) -> tuple[str, dict]:
    [(logical, props)] = [(k, p) for k, (b, p) in functions(t).items() if b == binary]
    return logical, props


def role_arn_of(t: dict, ids: dict, fn_props: dict) -> str:
    """The ARN of a function's role."""
    [arn] = [ids[k]["Arn"] for k in of_type(t, "AWS::IAM::Role") if ids[k]["Arn"] == fn_props["Role"]]
    return arn


def role_of(t: dict, ids: dict, fn_props: dict) -> dict:
    [role] = [r["Properties"] for k, r in of_type(t, "AWS::IAM::Role").items() if ids[k]["Arn"] == fn_props["Role"]]
    return role


def _listed(v) -> list:
    return v if isinstance(v, list) else [v]


def granting(role: dict, action: str, resource: str) -> list[dict]:
    """The Allow statements of the role's inline policies that name the action and resource (wildcards
    as IAM matches them), with their conditions, for the checks that look at those."""
    found = []
    for policy in role.get("Policies", []):
        for st in _listed(policy["PolicyDocument"]["Statement"]):
            if st.get("Effect") != "Allow":
                continue
            if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(st.get("Action", []))):
                continue
            if any(fnmatch.fnmatchcase(resource, r) for r in _listed(st.get("Resource", []))):
                found.append(st)
    return found


def allows(role: dict, action: str, resource: str) -> bool:
    """True when an Allow statement of the role's inline policies names the action and resource
    (wildcards as IAM matches them; conditions are not evaluated here: a real IAM evaluator checks
    each role against recorded calls elsewhere)."""
    for policy in role.get("Policies", []):
        for st in _listed(policy["PolicyDocument"]["Statement"]):
            if st.get("Effect") != "Allow":
                continue
            if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(st.get("Action", []))):
                continue
            if any(fnmatch.fnmatchcase(resource, r) for r in _listed(st.get("Resource", []))):
                return True
    return False



# The functions that run the watchdog engine (and so drain any gateway outbox).
ENGINE_FUNCTIONS = {"task-events", "reconciler", "log-alerts", "control"}
# The reconciler's embedded metrics (namespace Clawkeeper, no dimension: they do not grow with the fleet).
FLEET_GAUGES = {"GatewaysWatched", "GatewaysUp", "GatewaysDown", "GatewaysUnknown", "IncidentsOpen", "SnapshotsStale"}
FLEET_METRICS = FLEET_GAUGES | {"ReconcilerHeartbeat", "ReconcileMillis"}

class EveryMode(unittest.TestCase):
    """Each check runs once per mode (a subTest each), on modes.resolved(mode)."""

    @classmethod
    def setUpClass(cls):
        cls.resolved, cls.ids, cls.errors = {}, {}, {}
        for mode in modes.MODES:
            try:
                cls.resolved[mode] = modes.resolved(mode)
                cls.ids[mode] = modes.physical_ids(mode)
            except modes.TemplateError as e:
                cls.errors[mode] = str(e)

    def get(self, mode):
        """(resolved template, physical ids, parameter values) of a mode; fails where it does not resolve."""
        if mode in self.errors:
            self.fail(f"does not resolve (CloudFormation would refuse it): {self.errors[mode]}")
        return self.resolved[mode], self.ids[mode], modes.parameters(mode)

    # ------------------------------------------------------------------ parameters and rules
    def test_every_mode_is_accepted_and_creates_no_dangling_reference(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                self.get(mode)
                self.assertEqual(modes.rule_failures(mode), [], "the mode's parameters pass the Rules")

    def test_rules_use_only_the_functions_cloudformation_allows_in_rules(self):
        def walk(v, where):
            if isinstance(v, dict):
                for k, x in v.items():
                    if k.startswith("Fn::") or k == "Condition":
                        self.assertIn(k, modes.RULE_FUNCTIONS, f"{where}: {k} is not allowed in Rules")
                    walk(x, where)
            elif isinstance(v, list):
                for x in v:
                    walk(x, where)

        rules = modes.source().get("Rules", {})
        self.assertTrue(rules)
        for name, rule in rules.items():
            walk(rule.get("RuleCondition"), name)
            for a in rule.get("Assertions", []):
                walk(a["Assert"], name)

    def test_rules_refuse_what_would_fail_later(self):
        bad = {
            "snapshots without subnets": ("defaults", {"EfsAccessPointArn": modes.ACCESS_POINT, "VpcEgress": "nat",
                                                       "SecurityGroupId": modes.SECURITY_GROUP}),
            "snapshots without a security group": ("efs-snapshots-nat", {"SecurityGroupId": ""}),
            "an empty subnet entry": ("efs-snapshots-nat", {"SubnetIds": f"{modes.SUBNETS[0]},,{modes.SUBNETS[1]}"}),
            "probes without subnets": ("probe-in-vpc-nat", {"SubnetIds": ""}),
            "endpoints without route tables": ("efs-snapshots", {"RouteTableIds": ""}),
            "endpoints without the VPC": ("probe-in-vpc", {"VpcId": ""}),
            "a created gateway without a VPC": ("create-gateway-nat", {"VpcId": ""}),
            "a created gateway without subnets": ("create-gateway-nat", {"SubnetIds": ""}),
            "a created gateway, endpoints, no route tables": ("create-gateway", {"RouteTableIds": ""}),
            "a Fargate size that does not exist": ("create-gateway", {"GatewayCpu": "2048", "GatewayMemory": "1024"}),
            "too little memory for 512 CPU": ("create-gateway", {"GatewayCpu": "512", "GatewayMemory": "512"}),
        }
        for what, (mode, params) in bad.items():
            with self.subTest(what):
                try:
                    failures = modes.rule_failures(mode, params)
                except modes.TemplateError as e:
                    self.fail(f"the Rules cannot be evaluated: {e}")
                self.assertNotEqual(failures, [], what)
        # A created gateway needs no SecurityGroupId (it makes one), also with ProbeInVpc=true.
        with self.subTest("a created gateway with VPC probes needs no SecurityGroupId"):
            try:
                self.assertEqual(modes.rule_failures("create-gateway-probe-in-vpc-nat"), [])
            except modes.TemplateError as e:
                self.fail(f"the Rules cannot be evaluated: {e}")

    # ------------------------------------------------------------------ 1. roles
    def test_managed_policy_arns_of_every_role_are_unique(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, _p = self.get(mode)
                roles = of_type(t, "AWS::IAM::Role")
                self.assertGreaterEqual(len(roles), 6)
                for logical, role in roles.items():
                    arns = role["Properties"].get("ManagedPolicyArns", [])
                    self.assertEqual(len(arns), len(set(arns)), f"{logical}: IAM refuses repeated items: {arns}")

    # ------------------------------------------------------------------ 2. EFS mount targets
    def test_everything_that_mounts_efs_waits_for_every_mount_target(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, p = self.get(mode)
                targets = set(of_type(t, "AWS::EFS::MountTarget"))
                if p["CreateGateway"] == "true":
                    subnets = p["SubnetIds"].split(",")
                    got = sorted(r["Properties"]["SubnetId"] for r in of_type(t, "AWS::EFS::MountTarget").values())
                    self.assertEqual(got, sorted(subnets), "one mount target per subnet (one subnet per AZ)")
                else:
                    self.assertEqual(targets, set(), "the owner's file system has its own mount targets")
                deps = modes.dependencies(mode)
                mounting = [k for k, (_b, props) in functions(t).items() if props.get("FileSystemConfigs")]
                mounting += list(of_type(t, "AWS::ECS::Service"))
                if p["CreateGateway"] == "true" or p["EfsAccessPointArn"]:
                    self.assertGreaterEqual(len(mounting), 2)
                for logical in mounting:
                    missing = targets - modes.depends_on(deps, logical)
                    self.assertEqual(missing, set(), f"{logical} may be created before {sorted(missing)}")

    # ------------------------------------------------------------------ 6. routes out of the VPC
    def test_every_vpc_function_has_a_route_to_each_service_it_calls(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                # How the mode's subnets reach AWS is a fact of the owner's network (MODES says it), not
                # something the template may assume: "endpoints" means there is no NAT gateway.
                self._routes(t, ids, p, modes.MODES[mode].get("VpcEgress") or p.get("VpcEgress", "endpoints"))

    def _routes(self, t, ids, p, egress):
        endpoints = list(of_type(t, "AWS::EC2::VPCEndpoint").values())
        groups = {ids[k]["Ref"]: r for k, r in of_type(t, "AWS::EC2::SecurityGroup").items()}
        needed = set()
        in_vpc = {k: v for k, v in functions(t).items() if v[1].get("VpcConfig")}
        if p["EfsAccessPointArn"] or p["CreateGateway"] == "true" or p["ProbeInVpc"] == "true":
            self.assertTrue(in_vpc, "some function joins the VPC")
        for logical, (binary, props) in in_vpc.items():
            vpc = props["VpcConfig"]
            called = services_called(binary, props.get("Environment", {}).get("Variables", {}))
            needed |= called
            for sg in vpc["SecurityGroupIds"]:
                if sg in groups:  # a group this stack makes must let HTTPS out
                    rules_out = groups[sg]["Properties"].get("SecurityGroupEgress")
                    self.assertTrue(rules_out is None or any(_covers(rule, 443) for rule in rules_out), f"{sg}: no 443 out")
            if egress == "nat":
                continue  # the owner states the subnets reach AWS (a NAT gateway or their own endpoints)
            for service in sorted(called):
                name = f"com.amazonaws.{modes.REGION}.{service}"
                if service in GATEWAY_SERVICES:
                    ok = [e for e in endpoints if e["Properties"]["ServiceName"] == name
                          and e["Properties"].get("VpcEndpointType") == "Gateway"
                          and e["Properties"].get("VpcId") == p["VpcId"]
                          and e["Properties"].get("RouteTableIds") == p["RouteTableIds"].split(",")]
                else:
                    ok = [e for e in endpoints if e["Properties"]["ServiceName"] == name
                          and e["Properties"].get("VpcEndpointType") == "Interface"
                          and e["Properties"].get("PrivateDnsEnabled") is True
                          and e["Properties"].get("VpcId") == p["VpcId"]
                          and set(vpc["SubnetIds"]) <= set(e["Properties"].get("SubnetIds", []))
                          and _https_from(t, ids, e["Properties"].get("SecurityGroupIds", []), vpc["SecurityGroupIds"])]
                self.assertTrue(ok, f"{logical} ({binary}) calls {service} but has no route to it")
        made = {e["Properties"]["ServiceName"].rsplit(".", 1)[-1] for e in endpoints}
        if egress == "nat":
            self.assertEqual(made, set(), "nat: the stack makes no endpoints")
        else:
            self.assertEqual(made - needed, set(), "endpoints no function in the VPC calls (each one costs)")

    # ------------------------------------------------------------------ 4. alarms reach the owner
    def test_every_alarm_topic_uses_a_key_cloudwatch_may_use(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                self._alarm_topics(t, ids)

    def _alarm_topics(self, t, ids):
        topics = {ids[k]["Ref"]: r for k, r in of_type(t, "AWS::SNS::Topic").items()}
        keys = {}
        for k, r in of_type(t, "AWS::KMS::Key").items():
            keys[ids[k]["Ref"]] = keys[ids[k]["Arn"]] = (ids[k]["Arn"], r)
        for a in of_type(t, "AWS::KMS::Alias").values():
            if a["Properties"]["TargetKeyId"] in keys:
                keys[a["Properties"]["AliasName"]] = keys[a["Properties"]["TargetKeyId"]]
        alarms = of_type(t, "AWS::CloudWatch::Alarm")
        self.assertGreaterEqual(len(alarms), 6)
        for logical, alarm in alarms.items():
            props = alarm["Properties"]
            alarm_arn = modes._arn("cloudwatch", f"alarm:{props.get('AlarmName') or ids[logical]['Ref']}")
            actions = props.get("AlarmActions", []) + props.get("OKActions", []) + props.get("InsufficientDataActions", [])
            self.assertTrue(actions, logical)
            for action in actions:
                self.assertIn(action, topics, f"{logical}: action {action} is not a topic of this stack")
                key = topics[action]["Properties"].get("KmsMasterKeyId")
                self.assertIn(key, keys, f"{logical}: the topic's key {key} is not a customer managed key of this "
                                         "stack (CloudWatch cannot use alias/aws/sns)")
                _key_arn, key_resource = keys[key]
                self.assertTrue(_cloudwatch_may_use(key_resource, alarm_arn),
                                f"{logical} ({alarm_arn}): the key policy does not let CloudWatch use the key")
                self.assertTrue(key_resource["Properties"].get("EnableKeyRotation"), "key rotation")
        # Whoever publishes to the topic may use its key.
        for fn, (binary, fprops) in functions(t).items():
            if binary not in PUBLISHERS:
                continue
            role = role_of(t, ids, fprops)
            for arn, topic in topics.items():
                self.assertTrue(allows(role, "sns:Publish", arn), f"{fn} publishes to {arn}")
                key_arn = keys.get(topic["Properties"].get("KmsMasterKeyId"), ("no key of this stack", None))[0]
                for action in ["kms:GenerateDataKey", "kms:Decrypt"]:
                    self.assertTrue(allows(role, action, key_arn), f"{fn}: {action} on the topic key")

    # ------------------------------------------------------------------ 5. the snapshot bucket's key
    def test_snapshot_bucket_key_and_write_permissions(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                bucket = ids["SnapshotBucket"]["Arn"]
                snap_role = role_of(t, ids, function_named(t, "snapshot")[1])
                gw = p["GatewayId"]
                self.assertTrue(allows(snap_role, "s3:PutObject", f"{bucket}/{gw}/snapshots/20261201T100000Z-scheduled.json"),
                                "snapshot writes <gateway>/snapshots/<stamp>-<trigger>.json (crates/snapshot/src/layout.rs)")
                self.assertFalse(allows(snap_role, "s3:PutObject", f"{bucket}/{gw}/other.json"),
                                 "nothing else outside snapshots/")
                # A customer managed key always: the owner's, else the stack's own (rotated, kept).
                key = p["SnapshotKmsKeyArn"] or ids["SnapshotBucketKey"]["Arn"]
                [bucket_props] = [b["Properties"] for b in of_type(t, "AWS::S3::Bucket").values()
                                  if "BucketEncryption" in b["Properties"] and "VersioningConfiguration" in b["Properties"]]
                [rule] = bucket_props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                self.assertEqual(rule["ServerSideEncryptionByDefault"],
                                 {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key})
                own_keys = [k for k in of_type(t, "AWS::KMS::Key").values() if "snapshots" in str(k["Properties"]["Description"])]
                self.assertEqual(len(own_keys), 0 if p["SnapshotKmsKeyArn"] else 1)
                for k in own_keys:
                    self.assertTrue(k["Properties"]["EnableKeyRotation"])
                    self.assertEqual(k["DeletionPolicy"], "RetainExceptOnCreate", "kept with the bucket")
                wants = {"snapshot": ["kms:GenerateDataKey", "kms:Decrypt"], "restore": ["kms:Decrypt"],
                         "control": ["kms:Decrypt"]}
                for binary, actions in wants.items():
                    role = role_of(t, ids, function_named(t, binary)[1])
                    for action in actions:
                        self.assertTrue(allows(role, action, key), f"{binary}: {action} on {key}")
                # The reconciler reads snapshot statuses from the table: nothing in the bucket.
                rec = role_of(t, ids, function_named(t, "reconciler")[1])
                self.assertFalse(allows(rec, "kms:Decrypt", key), "reconciler: no use for the bucket key")
                self.assertFalse(allows(rec, "s3:GetObject", f"{bucket}/{p['GatewayId']}/snapshots/x.json"),
                                 "reconciler: no bucket read")

    def test_archives_are_readable_only_by_the_roles_that_need_them(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                bucket = ids["SnapshotBucket"]["Arn"]
                [policy] = [b["Properties"]["PolicyDocument"] for b in of_type(t, "AWS::S3::BucketPolicy").values()]
                [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny" and "s3:GetObject" in _listed(s["Action"])]
                self.assertEqual(deny["Principal"], "*")
                self.assertEqual(deny["Resource"], f"{bucket}/*.tar.gz")
                self.assertIn("s3:GetObjectVersion", deny["Action"], "versioned bucket: old versions too")
                exempt = set(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
                role_arn = {b: role_arn_of(t, ids, function_named(t, b)[1])
                            for b in ["snapshot", "restore", "control", "reconciler"]}
                self.assertIn(role_arn["snapshot"], exempt)
                self.assertIn(role_arn["restore"], exempt)
                self.assertNotIn(role_arn["control"], exempt, "control reads sidecars only")
                self.assertNotIn(role_arn["reconciler"], exempt)
                self.assertEqual(modes.OPERATOR_ROLE in exempt, bool(p.get("OperatorRoleArn")))
                self.assertEqual(len(exempt), 3 if p.get("OperatorRoleArn") else 2)

    def test_the_state_volume_mounts_only_over_tls_through_the_access_point_and_never_as_root(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, _p = self.get(mode)
                for fs in of_type(t, "AWS::EFS::FileSystem").values():
                    statements = fs["Properties"]["FileSystemPolicy"]["Statement"]
                    self.assertTrue(all(s["Effect"] == "Deny" for s in statements), "grants stay in the roles")
                    by_sid = {s["Sid"]: s for s in statements}
                    self.assertEqual(by_sid["DenyInsecureTransport"]["Condition"], {"Bool": {"aws:SecureTransport": "false"}})
                    beside = by_sid["DenyMountsBesideTheAccessPoint"]
                    self.assertEqual(beside["Condition"], {"Null": {"elasticfilesystem:AccessPointArn": "true"}})
                    self.assertIn("elasticfilesystem:ClientMount", beside["Action"])
                    self.assertEqual(by_sid["DenyRootAccess"]["Action"], "elasticfilesystem:ClientRootAccess")
                for td in of_type(t, "AWS::ECS::TaskDefinition").values():
                    for volume in td["Properties"].get("Volumes", []):
                        efs = volume.get("EFSVolumeConfiguration")
                        if efs:
                            self.assertEqual(efs["TransitEncryption"], "ENABLED")
                            self.assertEqual(efs["AuthorizationConfig"]["IAM"], "ENABLED")

    # ------------------------------------------------------------------ 7. schedules and async invokes
    def test_the_snapshot_schedule_says_what_it_asks_for(self):
        t, ids, _p = self.get("efs-snapshots")
        snap_fn, _ = function_named(t, "snapshot")
        [schedule] = [s["Properties"] for s in of_type(t, "AWS::Scheduler::Schedule").values()
                      if s["Properties"]["Target"]["Arn"] == ids[snap_fn]["Arn"]]
        # The snapshot function reads `source: aws.scheduler` as "every gateway" (its unit tests read
        # this same Input from the template); Scheduler's default payload is not guaranteed to be one.
        self.assertEqual(json.loads(schedule["Target"]["Input"])["source"], "aws.scheduler")

    def test_snapshot_schedule_runs_only_with_a_state_volume(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                has_efs = bool(p["EfsAccessPointArn"]) or p["CreateGateway"] == "true"
                snap_fn, _ = function_named(t, "snapshot")
                [schedule] = [s["Properties"] for s in of_type(t, "AWS::Scheduler::Schedule").values()
                              if s["Properties"]["Target"]["Arn"] == ids[snap_fn]["Arn"]]
                self.assertEqual(schedule.get("State", "ENABLED"), "ENABLED" if has_efs else "DISABLED")
                for fn, (_binary, props) in functions(t).items():
                    env = props.get("Environment", {}).get("Variables", {})
                    if not has_efs:
                        self.assertNotIn("CLAWKEEPER_SNAPSHOT_FUNCTION", env, f"{fn}: no snapshots to request")
                        self.assertNotIn("CLAWKEEPER_RESTORE_FUNCTION", env, fn)
                    elif _binary in ENGINE_FUNCTIONS:
                        # Every engine function drains the gateway's outbox, snapshot requests included:
                        # one without the name would drop a request another invocation planned.
                        self.assertEqual(env.get("CLAWKEEPER_SNAPSHOT_FUNCTION"), ids[snap_fn]["Ref"],
                                         f"{fn} runs the engine and must be able to request snapshots")
                    # The stack's interval is set apart from the owner's overrides, which are laid over it.
                    self.assertEqual(int(env["CLAWKEEPER_SNAPSHOT_INTERVAL_SECS"]),
                                     int(p["SnapshotIntervalSeconds"]) if has_efs else 0,
                                     f"{fn}: the freshness check is off without snapshots")
                    self.assertEqual(env.get("CLAWKEEPER_POLICY"), p["PolicyOverrides"] or None,
                                     f"{fn}: the owner's overrides pass as given, or not at all")

    def test_async_invocations_retry_and_keep_failures_as_intended(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                configs = {c["Properties"]["FunctionName"]: c["Properties"]
                           for c in of_type(t, "AWS::Lambda::EventInvokeConfig").values()}
                dlq = ids["EventDeadLetterQueue"]["Arn"]
                rec = configs.get(ids[function_named(t, "reconciler")[0]]["Ref"])
                self.assertIsNotNone(rec, "the reconciler's schedule invokes asynchronously: set its retries")
                self.assertEqual(rec["MaximumRetryAttempts"], 0, "the next minute's run is the retry")
                for binary in ["log-alerts", "task-events"]:
                    logical, props = function_named(t, binary)
                    cfg = configs.get(ids[logical]["Ref"])
                    self.assertIsNotNone(cfg, f"{binary} is invoked asynchronously: keep its failures")
                    self.assertEqual(cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"), dlq,
                                     f"{binary}: failed deliveries go to the dead-letter queue")
                    self.assertTrue(allows(role_of(t, ids, props), "sqs:SendMessage", dlq))

    # ------------------------------------------------------------------ 8. probes
    def test_reconciler_probes_task_ips_only_from_inside_the_vpc(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, p = self.get(mode)
                _, rec = function_named(t, "reconciler")
                env = rec["Environment"]["Variables"]
                self.assertEqual(env.get("CLAWKEEPER_PROBE_TASK_IP"), p["ProbeInVpc"])
                self.assertEqual(bool(rec.get("VpcConfig")), p["ProbeInVpc"] == "true")

    # ------------------------------------------------------------------ 9. the rest, as AWS reads it
    def test_names_that_must_be_unique_in_the_account_carry_the_stack_name(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, _p = self.get(mode)
                for kind, key in [("AWS::Scheduler::Schedule", "Name"), ("AWS::CloudWatch::Alarm", "AlarmName"),
                                  ("AWS::KMS::Alias", "AliasName"), ("AWS::CloudWatch::Dashboard", "DashboardName")]:
                    for logical, r in of_type(t, kind).items():
                        name = r["Properties"].get(key)
                        if name is not None:
                            self.assertIn(modes.STACK, name, f"{logical}: {name} collides with a second stack")

    def test_created_gateway_drains_and_vpc_functions_use_the_given_network(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, _ids, p = self.get(mode)
                for td in of_type(t, "AWS::ECS::TaskDefinition").values():
                    for c in td["Properties"]["ContainerDefinitions"]:
                        self.assertEqual(c.get("StopTimeout"), 120, "OpenClaw drains for minutes; 120 s is Fargate's most")
                for fn, (_b, props) in functions(t).items():
                    if props.get("VpcConfig"):
                        self.assertEqual(props["VpcConfig"]["SubnetIds"], p["SubnetIds"].split(","), fn)
                        self.assertNotIn("", props["VpcConfig"]["SecurityGroupIds"], fn)

    # ------------------------------------------------------------------ 11. a fleet of gateways
    def test_every_function_reads_the_registry_and_only_control_changes_it(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                table = ids["StateTable"]["Arn"]
                registry = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["REGISTRY"]}}
                for fn, (binary, props) in functions(t).items():
                    role = role_of(t, ids, props)
                    self.assertIn(registry, [st.get("Condition") for st in granting(role, "dynamodb:Query", table)],
                                  f"{binary} reads the fleet from the registry")
                    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
                        writes = [st.get("Condition") for st in granting(role, action, table)]
                        self.assertEqual(registry in writes, binary == "control", f"{binary}: {action} of REGISTRY items")
                    # Every grant on the table is scoped to some partitions: none reaches the whole table.
                    for policy in role.get("Policies", []):
                        for st in _listed(policy["PolicyDocument"]["Statement"]):
                            if any(a.lower().startswith("dynamodb:") for a in _listed(st["Action"])):
                                [(op, keys)] = st["Condition"].items()
                                self.assertTrue(op.startswith("ForAllValues:"), f"{binary}: {st.get('Sid')}")
                                self.assertEqual(list(keys), ["dynamodb:LeadingKeys"], f"{binary}: {st.get('Sid')}")
                                self.assertNotIn("*", keys["dynamodb:LeadingKeys"])
                rec = role_of(t, ids, function_named(t, "reconciler")[1])
                self.assertEqual([st["Condition"] for st in granting(rec, "dynamodb:BatchGetItem", table)],
                                 [{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GW#*"]}}], "batched state reads")
                snap = role_of(t, ids, function_named(t, "snapshot")[1])
                self.assertEqual(granting(snap, "dynamodb:PutItem", table), [], "the snapshot function writes no state")

    def test_every_gateway_of_the_watched_cluster_is_covered_and_no_other(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                service = lambda cluster, name: modes._arn("ecs", f"service/{cluster}/{name}")  # noqa: E731
                wants = {"task-events": ["ecs:UpdateService"], "reconciler": ["ecs:DescribeServices", "ecs:UpdateService"],
                         "log-alerts": ["ecs:DescribeServices", "ecs:UpdateService"],
                         "control": ["ecs:DescribeServices", "ecs:UpdateService"]}
                for binary, actions in wants.items():
                    role = role_of(t, ids, function_named(t, binary)[1])
                    for action in actions:
                        for name in (p["ServiceName"], "registered-gw-7"):
                            self.assertTrue(allows(role, action, service(p["ClusterName"], name)), f"{binary}: {action} {name}")
                        self.assertFalse(allows(role, action, service("another-cluster", p["ServiceName"])), f"{binary}: {action}")
                bucket = ids["SnapshotBucket"]["Arn"]
                reads = {"control": "s3:GetObject", "restore": "s3:GetObject", "snapshot": "s3:PutObject"}
                for binary, action in reads.items():
                    role = role_of(t, ids, function_named(t, binary)[1])
                    for gw in (p["GatewayId"], "registered-gw-7"):
                        self.assertTrue(allows(role, action, f"{bucket}/{gw}/snapshots/x.json"), f"{binary}: {action} of {gw}")
                    self.assertFalse(allows(role, action, f"{bucket}/registered-gw-7/other.json"), f"{binary}: outside snapshots/")
                for fn, (binary, props) in functions(t).items():
                    env = props["Environment"]["Variables"]
                    self.assertEqual(env["CLAWKEEPER_WATCHED_CLUSTERS"], p["ClusterName"], binary)
                    [seed] = json.loads(env["CLAWKEEPER_GATEWAYS"])
                    self.assertEqual(seed["cluster"], p["ClusterName"], f"{binary}: the seed runs in the watched cluster")

    def test_the_reconciler_reads_the_tokens_of_registered_gateways_named_after_the_stack(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, p = self.get(mode)
                prefix = modes._arn("secretsmanager", f"secret:clawkeeper/{modes.STACK}/")
                for fn, (binary, props) in functions(t).items():
                    self.assertEqual(props["Environment"]["Variables"]["CLAWKEEPER_TOKEN_SECRET_PREFIX"], prefix, binary)
                    role = role_of(t, ids, props)
                    may = allows(role, "secretsmanager:GetSecretValue", prefix + "gw-7/token-AbC123")
                    self.assertEqual(may, binary == "reconciler", binary)
                rec = role_of(t, ids, function_named(t, "reconciler")[1])
                for other in (modes._arn("secretsmanager", "secret:clawkeeper/another-stack/gw-AbC123"),
                              modes._arn("secretsmanager", "secret:openclaw/model-keys-AbC123"),
                              modes._arn("secretsmanager", f"secret:clawkeeper/{modes.STACK}-other/gw-AbC123")):
                    self.assertFalse(allows(rec, "secretsmanager:GetSecretValue", other), other)
                created = p["CreateGateway"] == "true"
                if created:
                    self.assertTrue(allows(rec, "secretsmanager:GetSecretValue", ids["GatewayTokenSecret"]["Ref"]))

    def test_only_control_manages_subscriptions_and_subscribes_email_only(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                topic = ids["AlertTopic"]["Ref"]
                for fn, (binary, props) in functions(t).items():
                    role = role_of(t, ids, props)
                    subscribe = granting(role, "sns:Subscribe", topic)
                    changes = [a for a in ("sns:SetSubscriptionAttributes", "sns:Unsubscribe") if allows(role, a, topic)]
                    if binary != "control":
                        self.assertEqual((subscribe, changes), ([], []), binary)
                        continue
                    self.assertEqual([st["Condition"] for st in subscribe], [{"StringEquals": {"sns:Protocol": "email"}}])
                    self.assertEqual(changes, ["sns:SetSubscriptionAttributes", "sns:Unsubscribe"])
                    self.assertFalse(allows(role, "sns:Subscribe", modes._arn("sns", "another-topic")))

    def test_every_alarm_is_one_control_checks_and_none_grows_with_the_fleet(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in of_type(t, "AWS::CloudWatch::Alarm").values()}
                _, control = function_named(t, "control")
                listed = control["Environment"]["Variables"]["CLAWKEEPER_ALARM_NAMES"].split(",")
                self.assertEqual(sorted(listed), sorted(alarms), "control's `test` checks every alarm, and only those")
                for name, a in alarms.items():
                    if a["Namespace"] == "Clawkeeper":
                        self.assertNotIn("Dimensions", a, f"{name}: the reconciler's metrics have no dimension")
                        self.assertIn(a["MetricName"], FLEET_METRICS, name)
                down = alarms[f"{modes.STACK}-gateways-down"]
                self.assertEqual((down["MetricName"], down["Statistic"], down["Period"], down["EvaluationPeriods"],
                                  down["DatapointsToAlarm"], down["Threshold"], down["ComparisonOperator"],
                                  down["TreatMissingData"], down["AlarmActions"]),
                                 ("GatewaysDown", "Maximum", 300, 3, 3, 1, "GreaterThanOrEqualToThreshold", "notBreaching",
                                  [ids["AlertTopic"]["Ref"]]))
                stale = alarms.get(f"{modes.STACK}-stale-snapshot")
                if stale:
                    self.assertEqual((stale["MetricName"], stale["Statistic"], stale["Threshold"]), ("SnapshotsStale", "Maximum", 1))

    def test_the_fleet_dashboard_shows_the_fleet_the_functions_and_each_gateway(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids, _p = self.get(mode)
                [dash] = of_type(t, "AWS::CloudWatch::Dashboard").values()
                self.assertEqual(dash["Properties"]["DashboardName"], f"{modes.STACK}-fleet")
                body = json.loads(dash["Properties"]["DashboardBody"])
                metrics, logs = set(), []
                for w in body["widgets"]:
                    self.assertLessEqual(w["x"] + w["width"], 24, "the dashboard grid is 24 wide")
                    props = w["properties"]
                    self.assertEqual(props["region"], modes.REGION)
                    if w["type"] == "log":
                        logs.append(props)
                        continue
                    for m in props["metrics"]:
                        options = m[-1] if isinstance(m[-1], dict) else {}
                        names = [x for x in m if not isinstance(x, dict)]
                        stat = options.get("stat", props.get("stat"))
                        self.assertIsNotNone(stat, f"{names}: a statistic")
                        metrics.add((tuple(names), stat, options.get("period", props.get("period"))))
                fleet = {(("Clawkeeper", m), "Maximum", 60) for m in FLEET_GAUGES}
                self.assertEqual(fleet - metrics, set(), "the fleet's gauges, Maximum over a minute")
                clawkeeper = {names[1] for names, _s, _p in metrics if names[0] == "Clawkeeper"}
                self.assertEqual(clawkeeper, FLEET_METRICS)
                self.assertTrue(all(len(names) == 2 for names, _s, _p in metrics if names[0] == "Clawkeeper"), "no dimension")
                for fn in functions(t):
                    for metric in ("Errors", "Throttles"):
                        self.assertIn(("AWS/Lambda", metric, "FunctionName", ids[fn]["Ref"]), {n for n, _s, _p in metrics}, fn)
                self.assertIn(("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", ids["EventDeadLetterQueue"]["Ref"].rsplit("/", 1)[1]),
                              {n for n, _s, _p in metrics})
                [log] = logs
                reconciler = ids[function_named(t, "reconciler")[0]]["Ref"]
                self.assertTrue(log["query"].startswith(f"SOURCE '/aws/lambda/{reconciler}' |"), log["query"])
                self.assertIn('filter fields.message = "fleet gateway"', log["query"])
                self.assertIn("by gateway", log["query"])
                self.assertEqual(log["view"], "table")
                url = t["Outputs"]["DashboardUrl"]["Value"]
                self.assertTrue(url.startswith(f"https://{modes.REGION}.console.aws.amazon.com/cloudwatch/"), url)
                self.assertTrue(url.endswith(f"/{modes.STACK}-fleet"), url)


# ------------------------------------------------------------------ 10. a created gateway's models and load balancer
_ALB = "create-gateway-alb-bedrock-keys"
# Beside every mode: the all-options mode with other values, each resolved as CloudFormation would.
OPTION_CASES = {
    "alb, reconciler in the VPC": (_ALB, {"ProbeInVpc": "true"}),
    "alb and the owner's load balancer": (_ALB, {"LoadBalancerSecurityGroupId": modes.LOAD_BALANCER_SG}),
    "six models, the most": (_ALB, {"BedrockModelIds": ",".join(
        ["anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-opus-4-6-v1", "eu.anthropic.claude-opus-4-6-v1",
         "global.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-pro-v1:0", "us-gov.anthropic.claude-3-haiku-20240307-v1:0"])}),
    "one foundation model": (_ALB, {"BedrockModelIds": "amazon.nova-pro-v1:0"}),
    "one inference profile": (_ALB, {"BedrockModelIds": "apac.anthropic.claude-sonnet-4-5-20250929-v1:0"}),
    "Bedrock off, its ids kept": (_ALB, {"EnableBedrock": "false"}),
    "eight keys, the most, no key of the owner's": (_ALB, {
        "ModelApiKeyNames": "ANTHROPIC_API_KEY,OPENAI_API_KEY,GEMINI_API_KEY,OPENROUTER_API_KEY,XAI_API_KEY,"
                            "MISTRAL_API_KEY,SLACK_BOT_TOKEN,SLACK_SIGNING_SECRET", "ModelApiKeysKmsKeyArn": ""}),
    "no keys": (_ALB, {"ModelApiKeysSecretArn": "", "ModelApiKeyNames": "", "ModelApiKeysKmsKeyArn": ""}),
    "no load balancer": (_ALB, {"CreateLoadBalancer": "false"}),
}
INVOKE = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}


def _split(value: str) -> list[str]:
    return [x for x in value.split(",") if x]


def expected_bedrock(p: dict) -> tuple[set[str], dict[str, str]]:
    """What the task role must allow for BedrockModelIds, written out apart from the template: the ARNs
    invoked directly, and for each inference profile (three dot-separated parts) the foundation model it
    routes to, in any region, allowed only through that profile."""
    direct, routed = set(), {}
    for model in _split(p["BedrockModelIds"]):
        parts = model.split(".")
        if len(parts) == 3:
            profile = f"arn:aws:bedrock:{modes.REGION}:{modes.ACCOUNT}:inference-profile/{model}"
            direct.add(profile)
            routed[profile] = f"arn:aws:bedrock:*::foundation-model/{parts[1]}.{parts[2]}"
        else:
            direct.add(f"arn:aws:bedrock:{modes.REGION}::foundation-model/{model}")
    return direct, routed


def _ingress(t: dict, ids: dict, group_logical: str) -> list[dict]:
    """Every ingress rule of a group of the stack: inline and AWS::EC2::SecurityGroupIngress."""
    group = ids[group_logical]["Ref"]
    rules = list(t["Resources"][group_logical]["Properties"].get("SecurityGroupIngress", []))
    rules += [x["Properties"] for x in of_type(t, "AWS::EC2::SecurityGroupIngress").values()
              if x["Properties"].get("GroupId") == group]
    return rules


class CreatedGatewayOptions(unittest.TestCase):
    """Bedrock, the model keys' secret and the load balancer of a created gateway, in every mode and in
    OPTION_CASES: what the task role, the execution role, the container, the security groups, the load
    balancer and the reconciler's gateway get, against what the parameters ask for."""

    @classmethod
    def setUpClass(cls):
        cls.cases = {m: (m, {}) for m in modes.MODES} | OPTION_CASES

    def each(self, check):
        """check(name, resolved template, physical ids, parameter values) for every case, a subTest each."""
        for name, (mode, params) in self.cases.items():
            with self.subTest(case=name):
                self.assertEqual(modes.rule_failures(mode, params), [], "the values pass the Rules")
                try:
                    t, ids = modes.resolved(mode, params=params), modes.physical_ids(mode, params=params)
                except modes.TemplateError as e:
                    self.fail(f"does not resolve: {e}")
                check(name, t, ids, modes.parameters(mode, params))

    def test_the_task_role_may_invoke_exactly_the_listed_models(self):
        self.each(self._the_task_role_may_invoke_exactly_the_listed_models)

    def _the_task_role_may_invoke_exactly_the_listed_models(self, _name, t, ids, p):
        created = p["CreateGateway"] == "true"
        bedrock = created and p["EnableBedrock"] == "true"
        direct, routed = expected_bedrock(p) if bedrock else (set(), {})
        got_direct, got_routed = set(), {}
        for logical, role in of_type(t, "AWS::IAM::Role").items():
            for policy in role["Properties"].get("Policies", []):
                for st in _listed(policy["PolicyDocument"]["Statement"]):
                    actions = set(_listed(st["Action"]))
                    if not any(a.lower().startswith("bedrock:") for a in actions):
                        continue
                    self.assertEqual(logical, "GatewayTaskRole", "only the gateway's task calls Bedrock")
                    self.assertEqual(st["Effect"], "Allow")
                    self.assertEqual(actions, INVOKE, "invoke only, named: no wildcard, no other action")
                    self.assertNotIn("NotResource", st)
                    resources = _listed(st["Resource"])
                    condition = st.get("Condition")
                    if condition is None:
                        for r in resources:
                            self.assertNotIn("*", r, f"{r}: a direct grant names one model")
                        got_direct |= set(resources)
                    else:
                        # Only a profile's model may be granted in any region, and only through it.
                        self.assertEqual(list(condition), ["StringEquals"])
                        [(key, profile)] = condition["StringEquals"].items()
                        self.assertEqual(key, "bedrock:InferenceProfileArn")
                        [model] = resources
                        arn, partition, service, region, account, rest = model.split(":", 5)
                        self.assertEqual((arn, partition, service, region, account), ("arn", "aws", "bedrock", "*", ""),
                                         f"{model}: a foundation model in any region")
                        self.assertNotIn("*", rest, f"{model}: one model, not a pattern")
                        self.assertNotIn("*", profile)
                        got_routed[profile] = model
        self.assertEqual(got_direct, direct)
        self.assertEqual(got_routed, routed)
        for td in of_type(t, "AWS::ECS::TaskDefinition").values():
            env = {e["Name"]: e["Value"] for e in td["Properties"]["ContainerDefinitions"][0]["Environment"]}
            # OpenClaw's Bedrock provider takes its region from AWS_REGION (docs/providers/bedrock.md).
            self.assertEqual(env.get("AWS_REGION"), modes.REGION if bedrock else None)

    def test_model_keys_come_from_the_owners_secret_read_by_the_execution_role_only(self):
        self.each(self._model_keys_come_from_the_owners_secret_read_by_the_execution_role_only)

    def _model_keys_come_from_the_owners_secret_read_by_the_execution_role_only(self, _name, t, ids, p):
        created = p["CreateGateway"] == "true"
        arn = p["ModelApiKeysSecretArn"] if created else ""
        names = _split(p["ModelApiKeyNames"]) if arn else []
        for td in of_type(t, "AWS::ECS::TaskDefinition").values():
            props = td["Properties"]
            [container] = props["ContainerDefinitions"]
            token = {"Name": "OPENCLAW_GATEWAY_TOKEN", "ValueFrom": ids["GatewayTokenSecret"]["Ref"]}
            # <secret ARN>:<json key>:<version stage>:<version id>, the last two empty: the current value.
            self.assertEqual(container["Secrets"], [token] + [{"Name": n, "ValueFrom": f"{arn}:{n}::"} for n in names])
            roles = {ids[k]["Arn"]: (k, r["Properties"]) for k, r in of_type(t, "AWS::IAM::Role").items()}
            _k, execution = roles[props["ExecutionRoleArn"]]
            _k, task = roles[props["TaskRoleArn"]]
            self.assertEqual(allows(execution, "secretsmanager:GetSecretValue", modes.MODEL_KEYS_SECRET), bool(arn))
            self.assertFalse(allows(execution, "secretsmanager:GetSecretValue", modes.MODEL_KEYS_SECRET[:-6] + "XyZ789"),
                             "another secret of the same name prefix")
            self.assertFalse(allows(task, "secretsmanager:GetSecretValue", modes.MODEL_KEYS_SECRET),
                             "the task itself never reads the secret")
            key = p["ModelApiKeysKmsKeyArn"] if arn else ""
            decrypts = [st for pol in execution.get("Policies", []) for st in _listed(pol["PolicyDocument"]["Statement"])
                        if "kms:Decrypt" in _listed(st["Action"])]
            if key:
                [st] = decrypts
                self.assertEqual(st["Resource"], key)
                self.assertEqual(st["Condition"], {"StringEquals": {"kms:ViaService": f"secretsmanager.{modes.REGION}.amazonaws.com"}})
            else:
                self.assertEqual(decrypts, [], "no key of the owner's: aws/secretsmanager needs no grant")
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            self.assertEqual(env.get("OPENCLAW_SUPERVISOR_MODE"), "external", "ECS owns the gateway's lifecycle")

    def test_the_load_balancer_is_https_only_and_reaches_only_the_gateway(self):
        self.each(self._the_load_balancer_is_https_only_and_reaches_only_the_gateway)

    def _the_load_balancer_is_https_only_and_reaches_only_the_gateway(self, name, t, ids, p):
        created = p["CreateGateway"] == "true"
        alb = created and p["CreateLoadBalancer"] == "true"
        lbs = of_type(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        listeners = of_type(t, "AWS::ElasticLoadBalancingV2::Listener")
        groups = of_type(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
        self.assertEqual((len(lbs), len(listeners), len(groups)), (1, 1, 1) if alb else (0, 0, 0))
        services = of_type(t, "AWS::ECS::Service")
        if not alb:
            for svc in services.values():
                self.assertNotIn("LoadBalancers", svc["Properties"])
            self.assertNotIn("LoadBalancerDnsName", t.get("Outputs", {}))
            return
        [(lb_logical, lb)], [listener], [(tg_logical, tg)] = lbs.items(), listeners.values(), groups.items()
        lb, listener, tg = lb["Properties"], listener["Properties"], tg["Properties"]
        self.assertEqual((lb["Type"], lb["Scheme"]), ("application", "internet-facing"))
        self.assertEqual(lb["Subnets"], p["PublicSubnetIds"].split(","))
        # The listener: HTTPS on 443 with the owner's certificate and a TLS 1.2+ policy, forwarding to
        # the gateway's target group; no plain-HTTP listener at all.
        self.assertEqual(listener["LoadBalancerArn"], ids[lb_logical]["Ref"])
        self.assertEqual((listener["Port"], listener["Protocol"]), (443, "HTTPS"))
        self.assertEqual(listener["Certificates"], [{"CertificateArn": p["CertificateArn"]}])
        self.assertTrue(listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2"), listener["SslPolicy"])
        self.assertEqual(listener["DefaultActions"], [{"Type": "forward", "TargetGroupArn": ids[tg_logical]["Ref"]}])
        # The target group: the task's IP on the gateway port, healthy when /healthz answers 200.
        self.assertEqual((tg["TargetType"], tg["Protocol"], tg["Port"], tg["VpcId"]), ("ip", "HTTP", 18789, p["VpcId"]))
        self.assertEqual((tg["HealthCheckPath"], tg["Matcher"]), ("/healthz", {"HttpCode": "200"}))
        delay = {a["Key"]: a["Value"] for a in tg.get("TargetGroupAttributes", [])}.get("deregistration_delay.timeout_seconds")
        self.assertIsNotNone(delay, "the default 300 s would hold every restart that long")
        self.assertLessEqual(int(delay), 30)
        [svc] = services.values()
        self.assertEqual(svc["Properties"]["LoadBalancers"],
                         [{"ContainerName": "openclaw-gateway", "ContainerPort": 18789, "TargetGroupArn": ids[tg_logical]["Ref"]}])
        self.assertGreaterEqual(svc["Properties"]["HealthCheckGracePeriodSeconds"], 120, "OpenClaw's start period")
        [svc_logical] = services
        self.assertIn("GatewayHttpsListener", modes.depends_on(modes.dependencies(*self.cases[name]), svc_logical),
                      "ECS refuses a target group no listener uses yet")
        # Security groups: the load balancer's takes 443 from anywhere and sends only to the gateway's
        # group on 18789; the gateway's lets 18789 in only from it, the functions and the owner's LB.
        [lb_sg] = lb["SecurityGroups"]
        [lb_sg_logical] = [k for k in of_type(t, "AWS::EC2::SecurityGroup") if ids[k]["Ref"] == lb_sg]
        gw_sg_logical, fn_sg_logical = "GatewayTaskSecurityGroup", "FunctionsSecurityGroup"
        gw_sg = ids[gw_sg_logical]["Ref"]
        lb_props = t["Resources"][lb_sg_logical]["Properties"]
        self.assertEqual([(r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIp")) for r in _ingress(t, ids, lb_sg_logical)],
                         [("tcp", 443, 443, "0.0.0.0/0")])
        self.assertEqual([(r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("DestinationSecurityGroupId"))
                          for r in lb_props["SecurityGroupEgress"]], [("tcp", 18789, 18789, gw_sg)])
        allowed = {lb_sg, ids[fn_sg_logical]["Ref"]} | ({p["LoadBalancerSecurityGroupId"]} if p["LoadBalancerSecurityGroupId"] else set())
        gw_rules = _ingress(t, ids, gw_sg_logical)
        for r in gw_rules:
            self.assertNotIn("CidrIp", r, "the gateway takes nothing from an address range")
            self.assertEqual((r["IpProtocol"], r["FromPort"], r["ToPort"]), ("tcp", 18789, 18789))
            self.assertIn(r["SourceSecurityGroupId"], allowed)
        self.assertEqual({r["SourceSecurityGroupId"] for r in gw_rules}, allowed)
        self.assertTrue(t["Outputs"]["LoadBalancerDnsName"]["Value"].endswith(".elb.amazonaws.com"))
        self.assertEqual(t["Outputs"]["GatewayUrl"]["Value"], f"https://{p['LoadBalancerDomainName']}/")

    def test_the_reconciler_probes_through_the_load_balancer_from_outside_the_vpc(self):
        self.each(self._the_reconciler_probes_through_the_load_balancer_from_outside_the_vpc)

    def _the_reconciler_probes_through_the_load_balancer_from_outside_the_vpc(self, _name, t, ids, p):
        alb = p["CreateGateway"] == "true" and p["CreateLoadBalancer"] == "true"
        through_lb = alb and p["ProbeInVpc"] == "false"
        for fn, (_binary, props) in functions(t).items():
            [gateway] = json.loads(props["Environment"]["Variables"]["CLAWKEEPER_GATEWAYS"])
            # In the VPC the reconciler probes the task's private IP (its subnets may not reach the
            # internet-facing load balancer); a probe_url would take precedence over that.
            self.assertEqual(gateway.get("probe_url"), f"https://{p['LoadBalancerDomainName']}" if through_lb else None, fn)
        _, rec = function_named(t, "reconciler")
        self.assertEqual(bool(rec.get("VpcConfig")), p["ProbeInVpc"] == "true", "the load balancer needs no VPC")


def _https_from(t: dict, ids: dict, endpoint_groups: list, function_groups: list) -> bool:
    """Some group of the endpoint lets tcp/443 in from one of the function's groups."""
    for logical, r in of_type(t, "AWS::EC2::SecurityGroup").items():
        group = ids[logical]["Ref"]
        if group not in endpoint_groups:
            continue
        rules = list(r["Properties"].get("SecurityGroupIngress", []))
        rules += [x["Properties"] for x in of_type(t, "AWS::EC2::SecurityGroupIngress").values()
                  if x["Properties"].get("GroupId") == group]
        if any(_covers(rule, 443) and rule.get("SourceSecurityGroupId") in function_groups for rule in rules):
            return True
    return False


def _covers(rule: dict, port: int) -> bool:
    if str(rule.get("IpProtocol")) == "-1":
        return True
    return str(rule.get("IpProtocol")) in ("tcp", "6") and int(rule.get("FromPort", -1)) <= port <= int(rule.get("ToPort", -1))


def _cloudwatch_may_use(key: dict, alarm_arn: str) -> bool:
    """The key policy allows cloudwatch.amazonaws.com kms:GenerateDataKey* and kms:Decrypt for this
    alarm (its aws:SourceAccount / aws:SourceArn conditions, if any, match)."""
    wanted = {"kms:generatedatakey": False, "kms:decrypt": False}
    for st in _listed(key["Properties"]["KeyPolicy"]["Statement"]):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal", {})
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        if "cloudwatch.amazonaws.com" not in services:
            continue
        cond = st.get("Condition", {})
        ok = True
        for op, pairs in cond.items():
            for k, v in pairs.items():
                actual = {"aws:sourceaccount": modes.ACCOUNT, "aws:sourcearn": alarm_arn}.get(k.lower())
                if actual is None:
                    ok = False  # a condition key CloudWatch's request does not carry
                elif op in ("StringEquals", "ArnEquals"):
                    ok &= actual in _listed(v)
                elif op in ("StringLike", "ArnLike"):
                    ok &= any(fnmatch.fnmatchcase(actual, x) for x in _listed(v))
                else:
                    ok = False
        if not ok:
            continue
        for action in _listed(st.get("Action", [])):
            for w in wanted:
                if fnmatch.fnmatchcase(w, action.lower()):
                    wanted[w] = True
    return all(wanted.values())


class CfnLint(unittest.TestCase):
    """cfn-lint on each mode's transformed template (what CloudFormation receives) and on its resolved
    form (concrete values: Fargate sizes, ids, ARNs). No errors; a warning kept needs a reason here."""

    # rule id -> why the warning is kept (none are).
    KEPT_WARNINGS: dict[str, str] = {}

    def test_no_errors_in_any_mode(self):
        from cfnlint.api import ManualArgs, lint

        config = ManualArgs(regions=[modes.REGION])
        for mode in modes.MODES:
            forms = [("transformed", lambda m=mode: modes.transformed(m)), ("resolved", lambda m=mode: modes.resolved(m))]
            for form, make in forms:
                with self.subTest(mode=mode, form=form):
                    try:
                        template = make()
                    except modes.TemplateError as e:
                        self.fail(f"does not resolve: {e}")
                    found = [m for m in lint(json.dumps(template), config=config)
                             if m.rule.id[0] in "EW" and m.rule.id not in self.KEPT_WARNINGS]
                    self.assertEqual([f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path or []))}" for m in found], [])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
