"""checkov on the template in every parameter mode: `make template-scan`.

checkov reads CloudFormation's conditions and intrinsic functions only in part (a resource under a
false condition is scanned anyway, a value behind Fn::If or Ref is often unknown), and never applies
the SAM transform, so the resources a mode really creates (the SAM-made roles, schedules and
invoke configs, the created gateway's cluster, log group and secret) would go unscanned or be
judged on placeholders. So each mode is scanned in its *resolved* form (modes.resolved: the SAM
transform's output with the mode's parameters and conditions applied and every value concrete), and
the untransformed template.yaml as well (checkov's SAM checks). A skip is justified in the resource's
Metadata (checkov.skip); SAM copies a function's Metadata onto the resources it makes for it.

The checkov of .venv-scan runs once on a temporary directory holding all of them (it needs
--skip-download here: otherwise it would try to reach its vendor). Fails on any failed check or
parsing error, or when a mode's file was not scanned.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import modes  # noqa: E402

CHECKOV = os.environ.get("CLAWKEEPER_CHECKOV") or str(modes.ROOT / ".venv-scan" / "bin" / "checkov")


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clawkeeper-scan-") as tmp:
        files = {"template.yaml (untransformed)": "template.yaml"}
        shutil.copyfile(modes.template_path(), pathlib.Path(tmp, "template.yaml"))
        problems = []
        for mode in modes.MODES:
            try:
                resolved = modes.resolved(mode)
            except modes.TemplateError as e:
                problems.append(f"{mode}: does not resolve: {e}")
                continue
            pathlib.Path(tmp, f"{mode}.json").write_text(json.dumps(resolved, indent=1))
            files[mode] = f"{mode}.json"
        out = subprocess.run(
            [CHECKOV, "-d", tmp, "--framework", "cloudformation", "--skip-download", "--compact", "-o", "json"],
            capture_output=True, text=True, env={**os.environ, "LOG_LEVEL": "ERROR"},
        )
        if not out.stdout.strip().startswith(("{", "[")):
            print(out.stdout, out.stderr, sep="\n", file=sys.stderr)
            return 1
        reports = json.loads(out.stdout)
        reports = reports if isinstance(reports, list) else [reports]
        per_file: dict[str, dict[str, int]] = {}
        failed = []
        parse_errors = []
        for report in reports:
            results = report.get("results", {})
            for kind in ("passed_checks", "failed_checks", "skipped_checks"):
                for check in results.get(kind, []):
                    name = check["file_path"].lstrip("/")
                    per_file.setdefault(name, {"passed_checks": 0, "failed_checks": 0, "skipped_checks": 0})[kind] += 1
                    if kind == "failed_checks":
                        failed.append(f"{name}: {check['check_id']} {check['resource']} ({check['check_name']})")
            parse_errors += results.get("parsing_errors", []) or report.get("summary", {}).get("parsing_errors_list", [])
            if report.get("summary", {}).get("parsing_errors"):
                parse_errors.append(f"{report['summary']['parsing_errors']} parsing error(s)")
        print(f"{'mode':34} {'passed':>6} {'failed':>6} {'skipped':>7}")
        for label, name in files.items():
            counts = per_file.get(name)
            if not counts:
                problems.append(f"{label}: not scanned")
                continue
            print(f"{label:34} {counts['passed_checks']:6} {counts['failed_checks']:6} {counts['skipped_checks']:7}")
        problems += failed + [f"parsing error: {e}" for e in parse_errors]
        print(f"checkov {len(files)} templates in {time.monotonic() - started:.1f} s")
        for p in problems:
            print("FAILED", p, file=sys.stderr)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
