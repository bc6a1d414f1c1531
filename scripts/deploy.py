#!/usr/bin/env python3
"""`make deploy` and `make package`: the exact SAM commands, checked before anything reaches AWS.

  deploy MODE ARCH [DRY_RUN]   sam build + sam deploy with deploy/samconfig.MODE.toml (or CONFIG=path)
  package ARCH BUCKET [DRY_RUN] sam build, then sam package into packaged.yaml (deployable without Rust);
                               SKIP_BUILD=1 packages the last build, PACKAGED=path writes elsewhere

Checked first, offline: the config file exists and is valid TOML; it names the stack `clawkeeper` (the
CLI's default), CAPABILITY_IAM, and the same Architecture for `sam build` and `sam deploy` as ARCH (a
mismatch would ship binaries of one architecture to functions of the other); no `<...>` placeholder is
left. DRY_RUN=1 prints the commands instead of running them.
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAM = os.environ.get("SAM", str(ROOT / ".venv-sam" / "bin" / "sam"))
FUNCTIONS = ["TaskEvents", "Reconciler", "LogAlerts", "Snapshot", "Restore", "Control"]


class Refused(Exception):
    pass


def overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2="a b"` as SAM reads parameter_overrides."""
    out = {}
    for word in shlex.split(text or ""):
        key, _, value = word.partition("=")
        out[key] = value
    return out


def check_config(path: pathlib.Path, arch: str, dry_run: bool) -> dict:
    if not path.is_file():
        raise Refused(f"{path} not found: copy one of deploy/samconfig.*.toml and fill it in")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise Refused(f"{path}: not TOML: {e}") from None
    env = config.get("default", {})
    stack = env.get("global", {}).get("parameters", {}).get("stack_name") or env.get("deploy", {}).get(
        "parameters", {}).get("stack_name")
    if stack != "clawkeeper":
        raise Refused(f"{path}: stack_name is {stack!r}; the clawkeeper CLI looks for the stack `clawkeeper` "
                      "(or pass --stack to every clawkeeper command)")
    deploy = env.get("deploy", {}).get("parameters", {})
    if "CAPABILITY_IAM" not in str(deploy.get("capabilities", "")):
        raise Refused(f"{path}: capabilities must include CAPABILITY_IAM (the stack creates one role per function)")
    built = overrides(env.get("build", {}).get("parameters", {}).get("parameter_overrides", "")).get("Architecture")
    deployed = overrides(deploy.get("parameter_overrides", "")).get("Architecture")
    if built != arch or deployed != arch:
        raise Refused(f"{path}: Architecture is {built!r} for sam build and {deployed!r} for sam deploy; both must be "
                      f"ARCH={arch}, or x86 functions would get arm64 binaries (or the other way round)")
    placeholders = re.findall(r"<[^>]*>", str(deploy.get("parameter_overrides", "")))
    if placeholders and not dry_run:
        raise Refused(f"{path}: fill in {', '.join(placeholders)}")
    return config


def run(commands: list[list[str]], dry_run: bool) -> None:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0",
           "PATH": f"{ROOT / '.venv-sam' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in commands:
        print(("would run: " if dry_run else "+ ") + shlex.join(command), flush=True)
        if not dry_run:
            subprocess.run(command, cwd=ROOT, env=env, check=True)


def build_command(arch: str, config: pathlib.Path | None) -> list[str]:
    command = [SAM, "build", "--template", "template.yaml", "--build-dir", ".aws-sam/build"]
    if config:
        command += ["--config-file", str(config)]
    else:
        command += ["--parameter-overrides", f"Architecture={arch}"]
    return command


def check_built(arch: str) -> None:
    machine = {"arm64": "aarch64", "x86_64": "x86-64"}[arch]
    for name in FUNCTIONS:
        bootstrap = ROOT / ".aws-sam" / "build" / f"{name}Function" / "bootstrap"
        if not bootstrap.is_file():
            raise Refused(f"sam build made no {bootstrap}")
        kind = subprocess.run(["file", str(bootstrap)], capture_output=True, text=True).stdout
        if machine not in kind:
            raise Refused(f"{bootstrap} is not an {arch} binary: {kind.strip()}")


def deploy(mode: str, arch: str, dry_run: bool) -> None:
    config = pathlib.Path(os.environ.get("CONFIG") or ROOT / "deploy" / f"samconfig.{mode}.toml")
    check_config(config, arch, dry_run)
    run([build_command(arch, config)], dry_run)
    if not dry_run:
        check_built(arch)
    run([[SAM, "deploy", "--template-file", ".aws-sam/build/template.yaml", "--config-file", str(config)]], dry_run)
    print("next: clawkeeper doctor (sends a test notice and checks the deployment)")


def package(arch: str, bucket: str, dry_run: bool) -> None:
    if not bucket and not dry_run:
        raise Refused("BUCKET=<an S3 bucket in the release's region> is required: sam package uploads the code there")
    # SKIP_BUILD=1 packages what the last `sam build` made (the package check does, after CI's build).
    if os.environ.get("SKIP_BUILD", "") in ("", "0"):
        run([build_command(arch, None)], dry_run)
    if not dry_run:
        check_built(arch)
    output = os.environ.get("PACKAGED") or "packaged.yaml"
    run([[SAM, "package", "--template-file", ".aws-sam/build/template.yaml", "--s3-bucket", bucket or "<bucket>",
          "--output-template-file", output]], dry_run)
    print(f"packaged.yaml ({arch}) deploys without a Rust toolchain: sam deploy --template-file packaged.yaml "
          f"--stack-name clawkeeper --capabilities CAPABILITY_IAM --parameter-overrides Architecture={arch} ...;"
          " sam publish --template packaged.yaml publishes it to the Serverless Application Repository")


def main(argv: list[str]) -> int:
    dry_run = os.environ.get("DRY_RUN", "") not in ("", "0")
    arch = argv[2] if argv[:1] == ["deploy"] and len(argv) == 3 else (argv[1] if len(argv) > 1 else "")
    if arch not in ("arm64", "x86_64"):
        print(f"ARCH must be arm64 or x86_64, not {arch!r}\n{__doc__}", file=sys.stderr)
        return 2
    try:
        if argv[:1] == ["deploy"] and len(argv) == 3:
            deploy(argv[1], argv[2], dry_run)
        elif argv[:1] == ["package"] and len(argv) in (2, 3):
            package(argv[1], argv[2] if len(argv) == 3 else "", dry_run)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Refused as e:
        print(f"make {argv[0]}: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"make {argv[0]}: {shlex.join(e.cmd)} failed ({e.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
