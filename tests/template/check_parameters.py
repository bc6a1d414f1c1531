"""What template.yaml accepts before anything is created: every parameter explained and constrained,
Rules written only with the functions CloudFormation allows in rules, and the combinations that
cannot work refused up front (Fargate sizes, no owner address, bad policy JSON). Also what `sam
delete` leaves behind and that nothing kept blocks the next stack.

Run by `make template-lint`: `.venv/bin/python tests/template/check_parameters.py`.
"""
from __future__ import annotations

import itertools
import pathlib
import re
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import modes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Fargate task sizes for Linux (AWS: "Task CPU and memory"), written out here independently of the
# template: CPU units -> the memory values (MiB) it takes.
FARGATE = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4096 + 1, 1024)),
    1024: set(range(2048, 8192 + 1, 1024)),
    2048: set(range(4096, 16384 + 1, 1024)),
    4096: set(range(8192, 30720 + 1, 1024)),
}


def rule_expressions(template: dict):
    """(rule name, expression) of every RuleCondition and Assert of the Rules section."""
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule:
            yield name, rule["RuleCondition"]
        for assertion in rule.get("Assertions", []):
            yield name, assertion["Assert"]


def functions_in(expr, where: str, problems: list[str], parameters: set[str]):
    """Walks one rule expression; each function that is not allowed in rules, and each Ref that is
    not a parameter, is added to `problems`."""
    if isinstance(expr, list):
        for x in expr:
            functions_in(x, where, problems, parameters)
        return
    if not isinstance(expr, dict):
        return
    for key, arg in expr.items():
        if key == "Ref":
            if arg not in parameters:
                problems.append(f"{where}: Ref {arg} is not a parameter")
            continue
        if key not in modes.RULE_FUNCTIONS:
            problems.append(f"{where}: {key} is not a function CloudFormation allows in rules")
        functions_in(arg, where, problems, parameters)


class Parameters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = modes.source()
        cls.params = cls.t["Parameters"]

    def test_every_parameter_is_explained_and_constrained(self):
        for name, spec in self.params.items():
            with self.subTest(name):
                self.assertGreater(len(str(spec.get("Description", ""))), 20, "a description the guided deploy shows")
                bounded_number = spec.get("Type") == "Number" and "MinValue" in spec and "MaxValue" in spec
                self.assertTrue("AllowedValues" in spec or "AllowedPattern" in spec or bounded_number,
                                "allowed values, a pattern or a numeric range, so a typo is refused before anything "
                                "is created")
                if bounded_number:
                    self.assertIn("ConstraintDescription", spec, "what the range is, in words")
                if "AllowedPattern" in spec:
                    self.assertIn("ConstraintDescription", spec, "what the pattern wants, in words")
                if "Default" in spec:
                    self.assertEqual(modes.rule_failures("defaults", {name: spec["Default"], "OwnerEmail": "none"})
                                     if name != "OwnerEmail" else [], [],
                                     "the default passes its own constraint")

    def test_every_parameter_is_in_a_group_of_the_console(self):
        groups = self.t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        grouped = [p for g in groups for p in g["Parameters"]]
        self.assertEqual(sorted(grouped), sorted(self.params))


class Rules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = modes.source()

    def test_rules_use_only_the_functions_cloudformation_allows_in_rules(self):
        expressions = list(rule_expressions(self.t))
        self.assertGreater(len(expressions), 5)
        problems: list[str] = []
        for name, expr in expressions:
            functions_in(expr, name, problems, set(self.t["Parameters"]))
        self.assertEqual(problems, [])

    def test_the_walk_finds_a_function_rules_do_not_allow(self):
        # The check itself can fail: the Fn::Join an earlier template used in a rule is caught.
        problems: list[str] = []
        join = {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "SubnetIds"}]}, ""]}]}
        functions_in(join, "old", problems, set(self.t["Parameters"]))
        functions_in({"Fn::Equals": [{"Ref": "AWS::Region"}, "x"]}, "pseudo", problems, set(self.t["Parameters"]))
        self.assertEqual(len(problems), 2, problems)

    def test_only_fargate_sizes_are_accepted(self):
        spec = self.t["Parameters"]
        offered = itertools.product(spec["GatewayCpu"]["AllowedValues"], spec["GatewayMemory"]["AllowedValues"])
        accepted = 0
        for cpu, memory in offered:
            with self.subTest(cpu=cpu, memory=memory):
                failures = modes.rule_failures("create-gateway", {"GatewayCpu": cpu, "GatewayMemory": memory})
                valid = int(memory) in FARGATE[int(cpu)]
                self.assertEqual(failures == [], valid, failures)
                accepted += valid
        self.assertGreaterEqual(accepted, 20, "a useful range of sizes is offered")
        # Sizes do not matter when the gateway is not created here.
        self.assertEqual(modes.rule_failures("defaults", {"GatewayCpu": "4096", "GatewayMemory": "512"}), [])

    def test_an_owner_address_is_required_unless_none_is_said(self):
        self.assertNotEqual(modes.rule_failures("defaults", {"OwnerEmail": ""}), [])
        self.assertNotEqual(modes.rule_failures("defaults", {"OwnerEmail": "owner-at-example.com"}), [])
        self.assertEqual(modes.rule_failures("defaults", {"OwnerEmail": "none"}), [])
        self.assertEqual(modes.rule_failures("defaults", {"OwnerEmail": "owner@example.com"}), [])
        subscriptions = lambda email: [r for r in modes.resolved("defaults", params={"OwnerEmail": email})
                                       ["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
        self.assertEqual(subscriptions("none"), [], "none subscribes nobody")
        [sub] = subscriptions("owner@example.com")
        self.assertEqual(sub["Properties"]["Endpoint"], "owner@example.com")

    def test_policy_overrides_must_look_like_a_json_object(self):
        for bad in ["down_grace_secs=120", "[1]", '"x"', "{", "true"]:
            with self.subTest(bad):
                self.assertNotEqual(modes.rule_failures("defaults", {"PolicyOverrides": bad}), [])
        for good in ["", '{"down_grace_secs":120}', ' {"reminder_secs":[3600,7200]} ']:
            with self.subTest(good):
                self.assertEqual(modes.rule_failures("defaults", {"PolicyOverrides": good}), [])

    def test_vpc_modes_without_their_network_are_refused(self):
        cases = {
            "snapshots, no subnets or security group": ("defaults", {"EfsAccessPointArn": modes.ACCESS_POINT}),
            "probes, no subnets": ("defaults", {"ProbeInVpc": "true", "VpcEgress": "nat",
                                                 "SecurityGroupId": modes.SECURITY_GROUP}),
            "created gateway, nothing": ("defaults", {"CreateGateway": "true"}),
            "created gateway, endpoints without route tables": ("create-gateway", {"RouteTableIds": ""}),
        }
        for what, (mode, params) in cases.items():
            with self.subTest(what):
                self.assertNotEqual(modes.rule_failures(mode, params), [])

    def test_a_created_gateways_models_and_load_balancer_are_refused_without_what_they_need(self):
        mode = "create-gateway-alb-bedrock-keys"
        self.assertEqual(modes.rule_failures(mode), [])
        bedrock = {"EnableBedrock": "true", "BedrockModelIds": "anthropic.claude-sonnet-4-5-20250929-v1:0"}
        keys = {"ModelApiKeysSecretArn": modes.MODEL_KEYS_SECRET, "ModelApiKeyNames": "ANTHROPIC_API_KEY"}
        alb = {"CreateLoadBalancer": "true", "CertificateArn": modes.CERTIFICATE,
               "PublicSubnetIds": ",".join(modes.PUBLIC_SUBNETS), "LoadBalancerDomainName": modes.DOMAIN}
        seven = ",".join(f"anthropic.claude-model-{i}-v1:0" for i in range(7))
        nine = ",".join(f"KEY_{i}" for i in range(9))
        bad = {
            # Each belongs to a gateway the stack creates: refused, not ignored, without one.
            "Bedrock without a created gateway": ("defaults", bedrock),
            "model keys without a created gateway": ("defaults", keys),
            "a load balancer without a created gateway": ("defaults", alb),
            "Bedrock without models": (mode, {"BedrockModelIds": ""}),
            "seven models (six slots)": (mode, {"BedrockModelIds": seven}),
            "a space after a comma": (mode, {"BedrockModelIds": "amazon.nova-pro-v1:0, amazon.nova-lite-v1:0"}),
            "an empty model entry": (mode, {"BedrockModelIds": "amazon.nova-pro-v1:0,,amazon.nova-lite-v1:0"}),
            "a geography no inference profile has": (mode, {"BedrockModelIds": "xx.anthropic.claude-opus-4-6-v1"}),
            # A dot in the model part would be read as a profile's parts: refused instead.
            "a dot in a model id": (mode, {"BedrockModelIds": "amazon.nova-2.0"}),
            "a model ARN instead of an id": (mode, {"BedrockModelIds": "arn:aws:bedrock:us-east-1::foundation-model/x.y"}),
            "a wildcard model": (mode, {"BedrockModelIds": "anthropic.*"}),
            "the secret without names": (mode, {"ModelApiKeyNames": ""}),
            "names without the secret": (mode, {"ModelApiKeysSecretArn": "", "ModelApiKeysKmsKeyArn": ""}),
            "a key without the secret": (mode, {"ModelApiKeysSecretArn": "", "ModelApiKeyNames": ""}),
            "a secret ARN without its suffix": (mode, {"ModelApiKeysSecretArn": modes.MODEL_KEYS_SECRET[:-7]}),
            "nine names (eight slots)": (mode, {"ModelApiKeyNames": nine}),
            "a name in lower case": (mode, {"ModelApiKeyNames": "anthropic_api_key"}),
            "a load balancer without a certificate": (mode, {"CertificateArn": ""}),
            "a load balancer without public subnets": (mode, {"PublicSubnetIds": ""}),
            "a load balancer in one subnet": (mode, {"PublicSubnetIds": modes.PUBLIC_SUBNETS[0]}),
            "a load balancer without its name": (mode, {"LoadBalancerDomainName": ""}),
            "a URL instead of a name": (mode, {"LoadBalancerDomainName": f"https://{modes.DOMAIN}/"}),
        }
        for what, (m, params) in bad.items():
            with self.subTest(what):
                self.assertNotEqual(modes.rule_failures(m, params), [], what)
        good = {
            "Bedrock off, its ids kept": (mode, {"EnableBedrock": "false"}),
            "six models": (mode, {"BedrockModelIds": ",".join(f"us.anthropic.claude-model-{i}-v1:0" for i in range(6))}),
            "eight names": (mode, {"ModelApiKeyNames": ",".join(f"KEY_{i}" for i in range(8))}),
            "six public subnets": (mode, {"PublicSubnetIds": ",".join(modes.PUBLIC_SUBNETS + modes.SUBNETS + modes.SUBNETS[:1])}),
            "the options off, their values kept": ("defaults", {"CertificateArn": modes.CERTIFICATE, "BedrockModelIds": "a.b"}),
        }
        for what, (m, params) in good.items():
            with self.subTest(what):
                self.assertEqual(modes.rule_failures(m, params), [], what)


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = modes.source()

    def test_the_default_image_is_the_tested_openclaw_release(self):
        default = self.t["Parameters"]["GatewayImage"]["Default"]
        tested = re.search(r"^version=\$\{2:-([0-9.]+)\}", (ROOT / "scripts" / "install-openclaw.sh").read_text(), re.M)
        self.assertIsNotNone(tested)
        self.assertEqual(default.rsplit(":", 1)[-1], tested.group(1))

    def test_kept_resources_go_when_the_first_create_fails_and_block_no_new_stack(self):
        # A resource whose type takes an explicit name must not keep a fixed one past the stack.
        name_keys = {"AWS::Logs::LogGroup": "LogGroupName", "AWS::S3::Bucket": "BucketName",
                     "AWS::DynamoDB::Table": "TableName", "AWS::EFS::FileSystem": None}
        kept = []
        for logical, r in self.t["Resources"].items():
            policy = r.get("DeletionPolicy", "Delete")
            with self.subTest(logical):
                self.assertNotEqual(policy, "Retain", "RetainExceptOnCreate: a failed first create leaves nothing")
                if policy == "RetainExceptOnCreate":
                    kept.append(logical)
                    key = name_keys.get(r["Type"])
                    self.assertFalse(key and key in r.get("Properties", {}),
                                     "a kept resource with a fixed name makes the next stack fail on it")
        # The snapshots' key is kept with the bucket: without it the kept snapshots are unreadable.
        self.assertEqual(sorted(kept), ["GatewayFileSystem", "SnapshotBucket", "SnapshotBucketKey", "StateTable"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
