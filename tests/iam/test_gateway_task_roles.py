"""The created gateway's task role and task execution role (not functions' roles, which check.py covers),
read as AWS reads them (the offline evaluator of check.py, evaluate.mjs), in every parameter mode: the
task may invoke on Bedrock exactly the models BedrockModelIds lists (an inference profile's model in
any region only through that profile) and nothing else; ECS may read the model keys' secret for the
container, and the task may not. Run by `make iam-coverage`."""
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "template"))
sys.path.insert(0, str(HERE))
import modes  # noqa: E402
from deployment import default_key_policy  # noqa: E402

REGION, ACCOUNT = modes.REGION, modes.ACCOUNT
INVOKE = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


def evaluate(role: dict, principal: str, requests: list[dict]) -> dict[str, dict]:
    """Each request against the role's inline policies (its managed AmazonECSTaskExecutionRolePolicy
    grants ECR and logs only). A KMS request also needs the key's policy: the owner's key is taken to
    have the default one, which lets the account's IAM policies grant its use."""
    docs = {f"inline-{i}": p["PolicyDocument"] for i, p in enumerate(role.get("Policies", []))}
    docs["none"] = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "none:None", "Resource": "*"}]}
    docs["default-key-policy"] = default_key_policy(ACCOUNT)
    identity = [k for k in docs if k != "default-key-policy"]
    for r in requests:
        r.update(principal=principal, account=ACCOUNT, identity=identity,
                 resource_policy="default-key-policy" if r["action"].startswith("kms:") else None)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"policies": docs, "requests": requests}, f)
    out = subprocess.run(["node", str(HERE / "evaluate.mjs"), f.name], capture_output=True, text=True, check=True)
    return {r["id"]: r for r in json.loads(out.stdout)["results"]}


def model(model_id: str, region: str = REGION) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def profile(profile_id: str) -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{profile_id}"


def bedrock_requests(listed: list[str]) -> tuple[list[dict], set[str]]:
    """Requests a gateway might make, and the ids of those the listed models allow."""
    requests, allowed = [], set()

    def add(rid, action, resource, context=None, ok=False):
        requests.append({"id": rid, "action": action, "resource": resource, "context": context or {}})
        if ok:
            allowed.add(rid)

    for i, m in enumerate(listed):
        parts = m.split(".")
        for action in INVOKE:
            a = action.split(":")[1]
            if len(parts) == 2:
                add(f"{i}-{a}-model", action, model(m), ok=True)
                add(f"{i}-{a}-model-elsewhere", action, model(m, "eu-west-1"))
                add(f"{i}-{a}-as-profile", action, profile(f"us.{m}"))
            else:
                underlying = ".".join(parts[1:])
                add(f"{i}-{a}-profile", action, profile(m), ok=True)
                # AWS authorizes the model in the region the profile routes the request to, with the
                # profile's ARN as bedrock:InferenceProfileArn. (A global profile's model ARN has an empty
                # region, which the grant's `*` matches too; iam-simulate knows no such ARN, so it is not
                # asked here: check_modes.py asserts the region segment is exactly `*`.)
                for region in ("us-east-1", "us-west-2", "eu-central-1"):
                    add(f"{i}-{a}-routed-{region}", action, model(underlying, region),
                        {"bedrock:InferenceProfileArn": profile(m)}, ok=True)
                add(f"{i}-{a}-model-directly", action, model(underlying, "us-west-2"))
                other = "apac" if parts[0] != "apac" else "eu"
                add(f"{i}-{a}-model-via-another-profile", action, model(underlying, "us-west-2"),
                    {"bedrock:InferenceProfileArn": profile(f"{other}.{underlying}")})
                add(f"{i}-{a}-another-model-via-this-profile", action, model("meta.llama3-1-70b-instruct-v1:0", "us-west-2"),
                    {"bedrock:InferenceProfileArn": profile(m)})
    for action in INVOKE:
        a = action.split(":")[1]
        add(f"unlisted-{a}", action, model("amazon.nova-premier-v1:0"))
        add(f"unlisted-profile-{a}", action, profile("us.amazon.nova-premier-v1:0"))
    add("converse-other", "bedrock:ListFoundationModels", "*")
    add("agent", "bedrock:InvokeAgent", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/AGENT123/ALIAS123")
    return requests, allowed


CASES = {m: {} for m in modes.MODES} | {
    "one inference profile": {"BedrockModelIds": "eu.anthropic.claude-opus-4-6-v1"},
    "Bedrock off": {"EnableBedrock": "false"},
}


class GatewayTaskRoles(unittest.TestCase):
    def cases(self):
        for name, params in CASES.items():
            mode = name if name in modes.MODES else "create-gateway-alb-bedrock-keys"
            yield name, mode, params

    def test_the_task_may_invoke_exactly_the_listed_models(self):
        for name, mode, params in self.cases():
            with self.subTest(case=name):
                t, ids = modes.resolved(mode, params=params), modes.physical_ids(mode, params=params)
                p = modes.parameters(mode, params)
                if "GatewayTaskRole" not in t["Resources"]:
                    self.assertNotEqual(p["CreateGateway"], "true")
                    continue
                listed = p["BedrockModelIds"].split(",") if p["EnableBedrock"] == "true" and p["BedrockModelIds"] else []
                # Requests for what the all-options mode lists, so that every mode is asked the same.
                asked = listed or modes.BEDROCK_MODELS
                requests, allowed = bedrock_requests(asked)
                got = evaluate(t["Resources"]["GatewayTaskRole"]["Properties"], ids["GatewayTaskRole"]["Arn"], requests)
                for r in got.values():
                    self.assertNotEqual(r["decision"], "Error", r)
                    self.assertEqual(r["ignored_context_keys"], [], r)
                self.assertEqual({i for i, r in got.items() if r["decision"] == "Allowed"}, allowed if listed else set())

    def test_only_ecs_reads_the_model_keys_secret(self):
        for name, mode, params in self.cases():
            with self.subTest(case=name):
                t, ids = modes.resolved(mode, params=params), modes.physical_ids(mode, params=params)
                p = modes.parameters(mode, params)
                if "GatewayExecutionRole" not in t["Resources"]:
                    continue
                secret, key = modes.MODEL_KEYS_SECRET, modes.MODEL_KEYS_KMS_KEY
                via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
                requests = [
                    {"id": "secret", "action": "secretsmanager:GetSecretValue", "resource": secret, "context": {}},
                    {"id": "other-secret", "action": "secretsmanager:GetSecretValue",
                     "resource": secret[:-6] + "XyZ789", "context": {}},
                    {"id": "decrypt-via", "action": "kms:Decrypt", "resource": key, "context": via},
                    {"id": "decrypt-direct", "action": "kms:Decrypt", "resource": key,
                     "context": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
                ]
                has_secret = p["ModelApiKeysSecretArn"] == secret
                wanted = ({"secret"} if has_secret else set()) | (
                    {"decrypt-via"} if has_secret and p["ModelApiKeysKmsKeyArn"] == key else set())
                execution = evaluate(t["Resources"]["GatewayExecutionRole"]["Properties"],
                                     ids["GatewayExecutionRole"]["Arn"], [dict(r) for r in requests])
                self.assertEqual({i for i, r in execution.items() if r["decision"] == "Allowed"}, wanted, execution)
                task = evaluate(t["Resources"]["GatewayTaskRole"]["Properties"], ids["GatewayTaskRole"]["Arn"],
                                [dict(r) for r in requests])
                self.assertEqual({i for i, r in task.items() if r["decision"] == "Allowed"}, set(), "the task reads no secret")


if __name__ == "__main__":
    unittest.main()
