"""IAM coverage: every AWS request the functions made in the end-to-end tests, evaluated against
the function's role in every parameter mode of template.yaml with a real policy evaluator.

    .venv/bin/python tests/iam/check.py [--calls target/iam-calls] [--mode NAME ...]

Run by `make iam-coverage` (part of `make test`, after the end-to-end tests wrote the calls).
Steps: read the recordings (recordings.py) -> map each request to IAM actions, resources and
condition keys (mapping.py) -> resolve the template's roles for each mode with the test's resource
names (deployment.py) -> evaluate every distinct request once with @cloud-copilot/iam-simulate
(evaluate.mjs) -> report. Fails on any deny, on an evaluator error, on a deployed function that no
evaluated request covers in a mode, and on a granted action no recorded request used (unless
allowlist.py says why it cannot be recorded).

Output: one `DENY <function> [<mode>] <action> on <resource> (<context>)` line per distinct deny,
a table of calls per function and mode, then the unused grants.
"""
from __future__ import annotations

import argparse
import collections
import fnmatch
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import allowlist  # noqa: E402
import deployment as dep  # noqa: E402
import mapping  # noqa: E402
import recordings  # noqa: E402

ROOT = HERE.parents[1]


class CheckError(Exception):
    """The check could not run to a verdict (bad recordings, an unmapped call, an evaluator error)."""


def template_functions() -> dict[str, str]:
    """Binary name -> logical id of each function in the template."""
    out = {}
    for logical, r in dep.modes.source()["Resources"].items():
        if r["Type"] == "AWS::Serverless::Function":
            out[r["Metadata"]["BuildProperties"]["Binary"]] = logical
    return out


def policy_key(function: str, name: str, doc: dict) -> str:
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    return f"{function}/{name}/{digest}"


class Run:
    def __init__(self, processes, modes):
        self.processes = processes
        self.modes = modes
        self.functions = template_functions()
        self.policies: dict[str, dict] = {}
        self.policy_names: dict[str, str] = {}  # key -> inline policy name (None for managed/resource)
        self.requests: dict[tuple, dict] = {}  # distinct request -> its evaluator input
        # (function, mode) -> counters; calls -> their needs per mode.
        self.evaluations = []  # (function, mode, call, [request keys], need descriptions)
        self.not_applicable = collections.Counter()
        self.deployed: dict[str, set[str]] = {}  # mode -> binaries deployed
        self.grants = collections.defaultdict(dict)  # binary -> {(policy, statement id): (actions, resources)}
        self._noted = set()

    # -- building the requests
    def build(self):
        unknown = sorted({p.binary for p in self.processes} - set(self.functions))
        if unknown:
            raise CheckError(f"recordings of programs that are no function of the template: {unknown}")
        hash_key = dep.deployment(self.modes[0], {}, {}).table_hash_key
        mapped = {}
        for p in self.processes:
            env = mapping.Env(p.env, dep.modes.ACCOUNT)
            for call in p.calls:
                mapped[id(call)] = (env, mapping.map_call(call, env, hash_key))
        for mode in self.modes:
            self.deployed[mode] = set(dep.deployment(mode, {}, {}).functions)
            for p in self.processes:
                for call in p.calls:
                    env, m = mapped[id(call)]
                    self._evaluate_call(mode, p, call, env, m)

    def _gateway(self, env: mapping.Env, gateway_id: str | None) -> dict | None:
        """The seed gateway a need is about; for None (a registered gateway, several, the registry)
        the first seed, whose cluster is the watched one (deployment.names_and_params)."""
        for g in env.gateways:
            if g.get("id") == gateway_id:
                return g
        return env.gateways[0] if env.gateways else None

    def _evaluate_call(self, mode, process, call, env, m: mapping.Mapped):
        binary = process.binary
        if binary not in self.deployed[mode]:
            return
        keys, needs = [], []
        for need, kms in [(n, False) for n in m.needs] + [(k, True) for k in m.kms]:
            gateway = self._gateway(env, need.gateway)
            names, params = dep.names_and_params(process.env, gateway)
            d = dep.deployment(mode, names, params)
            fn = d.functions[binary]
            if (binary, id(d)) not in self._noted:
                self._noted.add((binary, id(d)))
                self._note_grants(binary, fn)
            expanded = self._kms_needs(d, need, call) if kms else [need]
            for n in expanded:
                if n.requires and not self._has(fn, n.requires):
                    self.not_applicable[(binary, mode)] += 1
                    return
                keys.append(self._request(fn, d, n))
                needs.append(n)
        self.evaluations.append((binary, mode, call, keys, needs))

    @staticmethod
    def _has(fn: dep.Function, requirement: str) -> bool:
        kind, name = requirement.split(":", 1)
        if kind == "gateway":
            return bool(fn.gateways) and bool(fn.gateways[0].get(name))
        if kind == "env":
            return bool(fn.env.get(name))
        raise CheckError(f"unknown requirement {requirement}")

    def _kms_needs(self, d: dep.Deployment, use: mapping.KmsUse, call) -> list[mapping.Need]:
        """The KMS authorizations S3 or SNS make with the caller's permissions, in this mode."""
        if use.what.startswith("s3"):
            if call.status is not None and 400 <= call.status < 500:
                return []  # no object was read or written: nothing was encrypted or decrypted
            key = d.bucket_key(use.bucket)
            service = "s3"
        else:
            key = d.topic_key(use.arn)
            service = "sns"
        if not key or d.aws_managed(key):
            return []
        actions = {"s3-read": ["Decrypt"], "s3-write": ["GenerateDataKey"],
                   "s3-multipart": ["GenerateDataKey", "Decrypt"], "sns": ["GenerateDataKey", "Decrypt"]}[use.what]
        # The encryption context (kms:EncryptionContext:aws:s3:arn, the bucket's ARN with bucket
        # keys) is left out: iam-data does not accept the key for these actions, and no policy of
        # the stack conditions on it.
        keys = mapping.context({"kms:ViaService": f"{service}.{d.region}.amazonaws.com",
                                "kms:CallerAccount": d.account})
        return [mapping.Need(f"kms:{a}", key, keys, use.gateway) for a in actions]

    def _note_grants(self, binary: str, fn: dep.Function):
        for name, doc in fn.inline:
            statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
            for index, st in enumerate(statements, 1):
                if st.get("Effect") != "Allow":
                    continue
                actions = st.get("Action", [])
                resources = st.get("Resource", [])
                entry = self.grants[binary].setdefault((name, st.get("Sid") or str(index)), (set(), set()))
                entry[0].update(actions if isinstance(actions, list) else [actions])
                entry[1].update(resources if isinstance(resources, list) else [resources])

    def _policy(self, key: str, doc: dict, name: str | None = None) -> str:
        self.policies[key] = doc
        self.policy_names[key] = name
        return key

    def _request(self, fn: dep.Function, d: dep.Deployment, need: mapping.Need) -> tuple:
        identity = tuple(self._policy(policy_key(fn.binary, n, doc), doc, n) for n, doc in fn.inline) + tuple(
            self._policy(arn, dep.MANAGED_POLICIES[arn]) for arn in fn.managed)
        resource_policy = d.resource_policy(need.resource)
        rp_key = self._policy(policy_key("resource", *resource_policy), resource_policy[1]) if resource_policy else None
        key = (fn.role_arn, identity, need.action, need.resource, need.context, rp_key)
        if key not in self.requests:
            self.requests[key] = {
                "id": str(len(self.requests)), "principal": fn.role_arn, "action": need.action,
                "resource": need.resource, "account": d.account,
                # AWS sets aws:PrincipalArn on every request: the caller's role, which resource
                # policies (the snapshot bucket's archive rule) name.
                "context": {"aws:PrincipalArn": fn.role_arn,
                            **{k: list(v) if isinstance(v, tuple) else v for k, v in need.context}},
                "identity": list(identity), "resource_policy": rp_key,
            }
        return key

    # -- evaluating
    def evaluate(self) -> dict[tuple, dict]:
        payload = {"policies": self.policies, "requests": list(self.requests.values())}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(payload, f)
            path = f.name
        try:
            out = subprocess.run(["node", str(HERE / "evaluate.mjs"), path], capture_output=True, text=True)
        finally:
            os.unlink(path)
        if out.returncode != 0:
            raise CheckError(f"evaluate.mjs failed ({out.returncode}):\n{out.stderr[-4000:]}")
        by_id = {r["id"]: r for r in json.loads(out.stdout)["results"]}
        results = {}
        for key, request in self.requests.items():
            r = by_id.get(request["id"])
            if r is None:
                raise CheckError(f"evaluate.mjs gave no answer for {request['action']} on {request['resource']}")
            if r["decision"] == "Error":
                raise CheckError(f"the evaluator refused {request['action']} on {request['resource']} "
                                 f"({request['context']}): {r['error']}")
            if r["ignored_context_keys"]:
                raise CheckError(f"{request['action']} on {request['resource']}: the condition keys "
                                 f"{r['ignored_context_keys']} do not apply to it (fix mapping.py)")
            results[key] = r
        return results

    # -- reporting
    def report(self, results) -> int:
        failures = 0
        denies = collections.OrderedDict()
        table = collections.defaultdict(lambda: [0, 0, 0])  # (binary, mode) -> evaluated, allowed, denied
        used = collections.defaultdict(set)  # binary -> {(policy name, statement id, action)}
        for binary, mode, call, keys, needs in self.evaluations:
            row = table[(binary, mode)]
            row[0] += 1
            denied = False
            for key, need in zip(keys, needs):
                r = results[key]
                if r["decision"] == "Allowed":
                    for a in r["allowed_by"]:
                        name = self.policy_names.get(a["policy"])
                        if name:
                            used[binary].add((name, a["statement"], need.action))
                    continue
                denied = True
                line = (f"DENY {binary} [{mode}] {need.action} on {need.resource} ({need.describe_context()})")
                entry = denies.setdefault(line, [0, call.where, r["decision"]])
                entry[0] += 1
            row[1 if not denied else 2] += 1
        for line, (count, where, decision) in denies.items():
            print(f"{line}: {decision}, {count} call(s), e.g. {_short(where)}")
        failures += len(denies)

        print()
        print(f"{'function':<12} {'mode':<32} {'evaluated':>9} {'allowed':>8} {'denied':>7} {'n/a':>5}")
        for mode in self.modes:
            for binary in sorted(self.functions):
                if binary not in self.deployed[mode]:
                    continue
                evaluated, allowed, denied = table.get((binary, mode), (0, 0, 0))
                na = self.not_applicable[(binary, mode)]
                flag = "  <- no call evaluated" if evaluated == 0 else ""
                print(f"{binary:<12} {mode:<32} {evaluated:>9} {allowed:>8} {denied:>7} {na:>5}{flag}")
                if evaluated == 0:
                    failures += 1

        print()
        unused = []
        for binary, statements in sorted(self.grants.items()):
            for (name, sid), (actions, resources) in sorted(statements.items()):
                for action in sorted(actions):
                    if any(n == name and s == sid and fnmatch.fnmatchcase(a.lower(), action.lower())
                           for n, s, a in used[binary]):
                        continue
                    reason = allowlist.reason(binary, action)
                    text = f"{binary}: {action} (statement {sid}, on {', '.join(sorted(resources))})"
                    if reason:
                        print(f"unused but allowed: {text}: {reason}")
                    else:
                        unused.append(text)
        for text in unused:
            print(f"UNUSED {text}")
        failures += len(unused)
        return failures


def _short(where: str) -> str:
    """A recording's place relative to the repository when it is inside it."""
    path = pathlib.Path(where)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=pathlib.Path, default=ROOT / "target" / "iam-calls",
                        help="the recordings (default target/iam-calls)")
    parser.add_argument("--mode", action="append", help="check only this mode (repeatable)")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        processes = recordings.read_dir(args.calls)
        modes = args.mode or dep.mode_names()
        unknown = sorted(set(modes) - set(dep.mode_names()))
        if unknown:
            raise CheckError(f"unknown modes {unknown}; known: {dep.mode_names()}")
        run = Run(processes, modes)
        run.build()
        results = run.evaluate()
    except (CheckError, recordings.RecordingError, mapping.MappingError, dep.modes.TemplateError) as e:
        print(f"iam-coverage: {e}", file=sys.stderr)
        return 2
    calls = sum(len(p.calls) for p in processes)
    per_function = collections.Counter()
    for p in processes:
        per_function[p.binary] += len(p.calls)
    print(f"iam-coverage: {calls} recorded calls from {len(processes)} function processes "
          f"({', '.join(f'{b} {n}' for b, n in sorted(per_function.items()))}); "
          f"{len(results)} distinct requests evaluated in {len(modes)} modes ({dep.modes.template_path().name})")
    failures = run.report(results)
    print(f"\niam-coverage: {'FAILED' if failures else 'ok'} ({failures} problem(s)) in {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
