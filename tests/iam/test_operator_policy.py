"""The stack's OperatorPolicy, read as AWS reads it (the offline evaluator of check.py, evaluate.mjs),
in every parameter mode: an operator may call control through its URL and find it, and may not
invoke it directly (a direct invoke can carry a URL-shaped event with any caller ARN in it), nor
touch any other function. Run by `make iam-coverage`."""
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "template"))
import modes  # noqa: E402

OPERATOR = f"arn:aws:iam::{modes.ACCOUNT}:role/openclaw-operators"


def evaluate(doc: dict, requests: list[dict]) -> dict[str, dict]:
    for r in requests:
        r.update(principal=OPERATOR, account=modes.ACCOUNT, identity=["operator"], resource_policy=None)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"policies": {"operator": doc}, "requests": requests}, f)
    out = subprocess.run(["node", str(HERE / "evaluate.mjs"), f.name], capture_output=True, text=True, check=True)
    return {r["id"]: r for r in json.loads(out.stdout)["results"]}


class OperatorPolicy(unittest.TestCase):
    def test_operators_call_control_through_its_url_only(self):
        for mode in modes.MODES:
            with self.subTest(mode=mode):
                t, ids = modes.resolved(mode), modes.physical_ids(mode)
                doc = t["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
                control, restore = ids["ControlFunction"]["Arn"], f"{ids['ControlFunction']['Arn']}-other"
                stack = modes.STACK_ID
                requests = [
                    {"id": "url", "action": "lambda:InvokeFunctionUrl", "resource": control,
                     "context": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
                    {"id": "url-none-auth", "action": "lambda:InvokeFunctionUrl", "resource": control,
                     "context": {"lambda:FunctionUrlAuthType": "NONE"}},
                    {"id": "via-url", "action": "lambda:InvokeFunction", "resource": control,
                     "context": {"lambda:InvokedViaFunctionUrl": "true"}},
                    {"id": "direct", "action": "lambda:InvokeFunction", "resource": control,
                     "context": {"lambda:InvokedViaFunctionUrl": "false"}},
                    {"id": "other-function", "action": "lambda:InvokeFunction", "resource": restore,
                     "context": {"lambda:InvokedViaFunctionUrl": "true"}},
                    {"id": "find-url", "action": "lambda:GetFunctionUrlConfig", "resource": control, "context": {}},
                    {"id": "outputs", "action": "cloudformation:DescribeStacks", "resource": stack, "context": {}},
                ]
                got = evaluate(doc, requests)
                for r in got.values():
                    self.assertEqual(r["ignored_context_keys"], [], r)
                allowed = {i for i, r in got.items() if r["decision"] == "Allowed"}
                self.assertEqual(allowed, {"url", "via-url", "find-url", "outputs"}, got)


if __name__ == "__main__":
    unittest.main()
