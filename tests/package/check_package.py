"""`make package` run for real, offline, up to where AWS is needed: the recipe of scripts/deploy.py
(`sam package` of the `sam build` output) uploads to an S3 bucket in moto_server on loopback, and the
packaged template it writes is checked as a release would be used:

- every function's code is an S3 object in the bucket, a zip whose `bootstrap` is an executable
  binary of the architecture built for;
- the Serverless Application Repository metadata's LICENSE and README were uploaded too, so
  `sam publish --template packaged.yaml` can publish it;
- no local path is left in the template, and cfn-lint accepts it.

Run after `make sam-build` (CI does: `make package-check`). Needs .venv (moto, cfn-lint, boto3) and
.venv-sam (the SAM CLI).
"""
from __future__ import annotations

import io
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import boto3
from cfnlint.decode import decode_str

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = pathlib.Path(os.environ.get("CLAWKEEPER_VENV", ROOT / ".venv"))
BUCKET = "clawkeeper-release-check"
REGION = "us-east-1"
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # e_machine: EM_AARCH64, EM_X86_64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    moto = subprocess.Popen([str(VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):  # bounded: 20 s
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return moto, endpoint
        except OSError:
            time.sleep(0.2)
    moto.kill()
    raise SystemExit(f"moto_server did not answer on {endpoint}")


def fail(problems: list[str]) -> None:
    print("package check failed:\n- " + "\n- ".join(problems), file=sys.stderr)
    raise SystemExit(1)


def check(packaged: pathlib.Path, s3, arch: str) -> list[str]:
    problems = []
    template, matches = decode_str(packaged.read_text())
    if matches:
        return [f"{packaged} does not parse: {matches}"]
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    if len(functions) != 6:
        problems.append(f"expected the 6 functions, found {sorted(functions)}")
    for name, resource in sorted(functions.items()):
        uri = resource["Properties"].get("CodeUri", "")
        if not isinstance(uri, str) or not uri.startswith(f"s3://{BUCKET}/"):
            problems.append(f"{name}: CodeUri {uri!r} is not an object of s3://{BUCKET}")
            continue
        body = s3.get_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            names = z.namelist()
            if "bootstrap" not in names:
                problems.append(f"{name}: the code zip has no bootstrap: {names}")
                continue
            info = z.getinfo("bootstrap")
            mode = info.external_attr >> 16
            head = z.read("bootstrap")[:20]
        if not mode & 0o111:
            problems.append(f"{name}: bootstrap is not executable in the zip (mode {oct(mode)})")
        if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != ELF_MACHINE[arch]:
            problems.append(f"{name}: bootstrap is not a Linux {arch} executable")
    app = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {})
    for key in ("LicenseUrl", "ReadmeUrl"):
        url = app.get(key, "")
        if not str(url).startswith(f"s3://{BUCKET}/"):
            problems.append(f"Metadata {key} is {url!r}, not an uploaded object: sam publish would fail")
    text = packaged.read_text()
    for local in (str(ROOT), ".aws-sam/build", "CodeUri: ./"):
        if local in text:
            problems.append(f"a local path is left in the packaged template: {local!r}")
    lint = subprocess.run([str(VENV / "bin" / "cfn-lint"), str(packaged)], capture_output=True, text=True)
    if lint.returncode != 0:
        problems.append(f"cfn-lint on the packaged template:\n{lint.stdout}{lint.stderr}")
    return problems


def main() -> None:
    arch = os.environ.get("ARCH", "arm64")
    moto, endpoint = start_moto()
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
               "SKIP_BUILD": "1"}
        env.pop("AWS_PROFILE", None)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            packaged = pathlib.Path(tmp) / "packaged.yaml"
            env["PACKAGED"] = str(packaged)
            run = subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), "package", arch, BUCKET],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                fail([f"make package failed ({run.returncode}):\n{run.stdout}{run.stderr}"])
            problems = check(packaged, s3, arch)
            if problems:
                fail(problems)
            objects = s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
            print(f"package check: packaged.yaml ({arch}) with 6 functions and the repository metadata, "
                  f"{objects} objects uploaded, cfn-lint clean")
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
