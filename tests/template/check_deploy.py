"""`make deploy` and `make package` up to the point where AWS is needed: every checked-in samconfig
passes the deploy checks and yields the sam commands with the same architecture for build and deploy;
a config that disagrees is refused; the template carries what the Serverless Application Repository
needs. Run by `make template-lint`: `.venv/bin/python tests/template/check_deploy.py`.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import modes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "scripts" / "deploy.py"


def dry_run(*args: str, config: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRY_RUN": "1"}
    if config:
        env["CONFIG"] = str(config)
    return subprocess.run([sys.executable, str(DEPLOY), *args], env=env, capture_output=True, text=True, cwd=ROOT)


class Deploy(unittest.TestCase):
    def test_every_mode_config_gives_the_build_and_deploy_commands(self):
        configs = sorted((ROOT / "deploy").glob("samconfig.*.toml"))
        self.assertEqual([c.name for c in configs],
                         ["samconfig.create-gateway.toml", "samconfig.snapshots.toml", "samconfig.watch.toml"])
        for config in configs:
            mode = config.name.split(".")[1]
            with self.subTest(mode):
                out = dry_run("deploy", mode, "arm64")
                self.assertEqual(out.returncode, 0, out.stderr)
                build, deploy = [l for l in out.stdout.splitlines() if l.startswith("would run:")]
                self.assertIn(" build ", build)
                self.assertIn(f"--config-file {config}", build)
                self.assertIn(" deploy ", deploy)
                self.assertIn(f"--config-file {config}", deploy)

    def test_each_config_names_a_mode_the_template_accepts(self):
        import tomllib
        for config in (ROOT / "deploy").glob("samconfig.*.toml"):
            with self.subTest(config.name):
                text = config.read_text()
                values = tomllib.loads(text)["default"]["deploy"]["parameters"]["parameter_overrides"]
                params = dict(w.split("=", 1) for w in values.split())
                # The placeholders stand for ids of the owner's account: put sample ids in their place.
                samples = {"SubnetIds": ",".join(modes.SUBNETS[:2]), "SecurityGroupId": modes.SECURITY_GROUP,
                           "VpcId": modes.VPC, "RouteTableIds": modes.ROUTE_TABLES[0],
                           "EfsAccessPointArn": modes.ACCESS_POINT, "OwnerEmail": "owner@example.com"}
                params = {k: samples.get(k, v) if v.startswith("<") else v for k, v in params.items()}
                self.assertEqual(modes.rule_failures("defaults", {**params, "OwnerEmail": params["OwnerEmail"]}), [])

    def test_an_architecture_that_build_and_deploy_do_not_share_is_refused(self):
        out = dry_run("deploy", "watch", "x86_64")
        self.assertEqual(out.returncode, 1)
        self.assertIn("both must be ARCH=x86_64", out.stderr)
        with tempfile.TemporaryDirectory() as d:
            bad = pathlib.Path(d) / "samconfig.toml"
            bad.write_text((ROOT / "deploy" / "samconfig.watch.toml").read_text().replace(
                'stack_name = "clawkeeper"', 'stack_name = "sam-app"'))
            out = dry_run("deploy", "watch", "arm64", config=bad)
            self.assertEqual(out.returncode, 1)
            self.assertIn("looks for the stack `clawkeeper`", out.stderr)
            bad.write_text((ROOT / "deploy" / "samconfig.watch.toml").read_text().replace(
                'capabilities = "CAPABILITY_IAM"', 'capabilities = ""'))
            self.assertIn("CAPABILITY_IAM", dry_run("deploy", "watch", "arm64", config=bad).stderr)
        # Placeholders left: only a dry run goes on.
        env = {k: v for k, v in os.environ.items() if k != "DRY_RUN"}
        out = subprocess.run([sys.executable, str(DEPLOY), "deploy", "watch", "arm64"], env=env,
                             capture_output=True, text=True, cwd=ROOT)
        self.assertEqual(out.returncode, 1)
        self.assertIn("fill in <you@example.com>", out.stderr)


class Package(unittest.TestCase):
    def test_package_builds_then_packages_for_the_architecture(self):
        out = dry_run("package", "x86_64", "releases-bucket")
        self.assertEqual(out.returncode, 0, out.stderr)
        build, package = [l for l in out.stdout.splitlines() if l.startswith("would run:")]
        self.assertIn("--parameter-overrides Architecture=x86_64", build)
        self.assertIn("package --template-file .aws-sam/build/template.yaml --s3-bucket releases-bucket", package)
        self.assertIn("--output-template-file packaged.yaml", package)

    def test_the_template_can_be_published_as_an_application(self):
        app = modes.source()["Metadata"]["AWS::ServerlessRepo::Application"]
        for key in ["Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "SemanticVersion"]:
            self.assertIn(key, app)
        self.assertEqual(app["SpdxLicenseId"], "Apache-2.0")
        self.assertTrue((ROOT / app["LicenseUrl"]).is_file())
        self.assertIn("Apache License", (ROOT / "LICENSE").read_text()[:200])
        cargo = (ROOT / "Cargo.toml").read_text()
        self.assertIn('license = "Apache-2.0"', cargo)
        self.assertIn(f'version = "{app["SemanticVersion"]}"', cargo)


if __name__ == "__main__":
    unittest.main(verbosity=2)
