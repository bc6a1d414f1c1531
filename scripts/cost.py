#!/usr/bin/env python3
"""docs/COST.md: what a clawkeeper stack adds to the AWS bill, per month, in every parameter mode of
template.yaml (tests/template/modes.py).

Each figure comes from what the mode's resolved template creates (the same resolution the template
checks use: SAM transform, conditions, intrinsics) and from measured figures kept in the repository:
the AWS requests per invocation (docs/call-counts.json, kept current by tests/tests/call_counts.rs)
and the run times of docs/BENCHMARKS.md. The prices are in PRICES below, in one place.

    .venv/bin/python scripts/cost.py           # the document on stdout
    .venv/bin/python scripts/cost.py --write   # docs/COST.md (make cost)

The output is deterministic (fixed order, fixed formatting): tests/template/check_cost.py
regenerates it and compares.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "template"))
import modes  # noqa: E402

# ----------------------------------------------------------------------------- prices
# us-east-1 list prices, before any free tier. Set on PRICES_AS_OF from the AWS pricing pages named
# in each entry; re-check them there when updating (the script never goes to the network).
PRICES_AS_OF = "2026-12-02"
PRICES: dict[str, tuple[float, str, str]] = {
    # key: (USD, unit, source page)
    "fargate_arm_vcpu_h": (0.03238, "per vCPU-hour", "AWS Fargate pricing (Linux/ARM)"),
    "fargate_arm_gb_h": (0.00356, "per GB-hour", "AWS Fargate pricing (Linux/ARM)"),
    "fargate_x86_vcpu_h": (0.04048, "per vCPU-hour", "AWS Fargate pricing (Linux/x86)"),
    "fargate_x86_gb_h": (0.004445, "per GB-hour", "AWS Fargate pricing (Linux/x86)"),
    "public_ipv4_h": (0.005, "per address-hour", "Amazon VPC pricing (public IPv4 addresses)"),
    "interface_endpoint_az_h": (0.01, "per endpoint per AZ-hour", "AWS PrivateLink pricing (interface endpoints)"),
    "interface_endpoint_gb": (0.01, "per GB processed", "AWS PrivateLink pricing (interface endpoints)"),
    "gateway_endpoint": (0.0, "S3 and DynamoDB gateway endpoints are free", "Amazon VPC pricing"),
    "nat_h": (0.045, "per NAT gateway-hour", "Amazon VPC pricing (NAT gateway)"),
    "nat_gb": (0.045, "per GB processed", "Amazon VPC pricing (NAT gateway)"),
    "efs_standard_gb_month": (0.30, "per GB-month", "Amazon EFS pricing (Standard storage)"),
    "efs_elastic_read_gb": (0.03, "per GB read", "Amazon EFS pricing (Elastic Throughput)"),
    "efs_backup_gb_month": (0.05, "per GB-month", "AWS Backup pricing (EFS warm backup storage)"),
    "kms_key_month": (1.00, "per customer managed key-month", "AWS KMS pricing"),
    "kms_10k_requests": (0.03, "per 10,000 requests", "AWS KMS pricing"),
    "secret_month": (0.40, "per secret-month", "AWS Secrets Manager pricing"),
    "secrets_10k_calls": (0.05, "per 10,000 API calls", "AWS Secrets Manager pricing"),
    "alarm_month": (0.10, "per standard-resolution alarm-month", "Amazon CloudWatch pricing"),
    "custom_metric_month": (0.30, "per custom metric-month", "Amazon CloudWatch pricing"),
    "logs_ingest_gb": (0.50, "per GB ingested", "Amazon CloudWatch pricing (Logs)"),
    "lambda_arm_gb_s": (0.0000133334, "per GB-second (arm64)", "AWS Lambda pricing"),
    "lambda_x86_gb_s": (0.0000166667, "per GB-second (x86_64)", "AWS Lambda pricing"),
    "lambda_ephemeral_gb_s": (0.0000000309, "per GB-second of /tmp above 512 MB", "AWS Lambda pricing"),
    "lambda_million_requests": (0.20, "per million requests", "AWS Lambda pricing"),
    "scheduler_million": (1.00, "per million scheduled invocations", "Amazon EventBridge pricing (Scheduler)"),
    "ddb_million_reads": (0.125, "per million read request units", "Amazon DynamoDB pricing (on-demand)"),
    "ddb_million_writes": (0.625, "per million write request units", "Amazon DynamoDB pricing (on-demand)"),
    "s3_gb_month": (0.023, "per GB-month", "Amazon S3 pricing (S3 Standard)"),
    "s3_1k_put": (0.005, "per 1,000 PUT, COPY, POST, LIST requests", "Amazon S3 pricing"),
    "s3_1k_get": (0.0004, "per 1,000 GET and other requests", "Amazon S3 pricing"),
    "sns_email_100k": (2.00, "per 100,000 email deliveries; the first 1,000 a month are free", "Amazon SNS pricing"),
    "alb_h": (0.0225, "per load balancer-hour", "Elastic Load Balancing pricing (Application Load Balancer)"),
    "alb_lcu_h": (0.008, "per LCU-hour", "Elastic Load Balancing pricing (Application Load Balancer)"),
}


def price(key: str) -> float:
    return PRICES[key][0]


# ----------------------------------------------------------------------------- assumptions
HOURS = 730  # a month, as AWS prices it
MINUTES = HOURS * 60
# The gateway's state (its /home/node: WhatsApp creds, SQLite databases, config, workspace).
STATE_GB = 1.0
# A busy gateway writes its sessions and databases all the time: every scheduled snapshot finds the
# state changed and writes a new archive (an unchanged run is far cheaper: docs/call-counts.json).
CHANGED_SHARE = 1.0
# A request to an AWS API in the region, which the loopback benchmarks do not include.
AWS_ROUND_TRIP_MS = 20
# Lambda gives a function one vCPU at 1,769 MB and CPU in proportion below that.
LAMBDA_MB_PER_VCPU = 1769
# Log bytes per invocation in CloudWatch Logs (JSON log format): a reconciler tick prints two INFO
# lines and two metric lines, about 650 bytes as text in the tests; doubled for the JSON envelope
# and Lambda's own records.
LOG_BYTES = {"reconciler": 2048, "snapshot": 4096, "events": 2048}
# Invocations a month that no schedule drives, and how long each runs (a conservative figure: the
# benchmarks measure a few ms of CPU per event).
EVENT_DRIVEN = {
    # function logical id: (invocations a month, ms each, why)
    "TaskEventsFunction": (200, 100, "ECS task, service and deployment events: about 8 per task replacement"),
    "LogAlertsFunction": (100, 100, "gateway log lines that pass the subscription filter"),
    "ControlFunction": (100, 500, "your commands through the clawkeeper CLI"),
}
# Each event-driven invocation's requests: as a routine task stop (docs/call-counts.json).
EVENT_RUN = "task_events_routine_stop"
# DynamoDB request units: a strongly consistent read of an item up to 4 KB is 1 read unit; a write
# of an item up to 1 KB is 1 write unit; a transaction bills 2 units per item, and clawkeeper's
# transactions write the state with its dedupe marker (2 items).
DDB_READ_UNITS = {"GetItem": 1, "Query": 1, "BatchGetItem": 1, "Scan": 1, "TransactGetItems": 2}
DDB_WRITE_UNITS = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "BatchWriteItem": 1, "TransactWriteItems": 4}
# S3 request classes. DELETE is free; DeleteObjects is a POST and priced as one.
S3_PUT_CLASS = {"PutObject", "CopyObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload",
                "ListObjectsV2", "ListObjects", "ListMultipartUploads", "ListParts", "DeleteObjects"}
S3_GET_CLASS = {"GetObject", "HeadObject", "HeadBucket"}
S3_FREE = {"DeleteObject", "AbortMultipartUpload"}
# Backups of the created file system (BackupPolicy ENABLED: daily, kept 35 days, incremental).
EFS_BACKUP_GB = 2 * STATE_GB
# A load balancer's capacity units (CreateLoadBalancer=true, or the owner's own), billed per LCU-hour: one
# LCU is 25 new connections a second, 3,000 active connections or 1 GB processed an hour, whichever is
# most. A personal gateway's webhooks and Control UI use a small part of one: 1 is an upper figure.
ALB_LCU = 1

# Used only when docs/BENCHMARKS.md does not have the figure (a conservative stand-in).
FALLBACK = {"reconciler_ms": 500.0, "snapshot_unchanged_ms": 1000.0, "snapshot_mb_s": 5.0, "archive_ratio": 0.5}

# The template's functions and the binaries they run.
BINARIES = {"TaskEventsFunction": "task-events", "ReconcilerFunction": "reconciler", "LogAlertsFunction": "log-alerts",
            "SnapshotFunction": "snapshot", "RestoreFunction": "restore", "ControlFunction": "control"}
FUNCTIONS = list(BINARIES)


# ----------------------------------------------------------------------------- measured inputs
def _read(rel: str) -> str:
    return (ROOT / rel).read_text()


def call_counts() -> dict:
    """docs/call-counts.json: requests per invocation by service and operation."""
    return json.loads(_read("docs/call-counts.json"))["runs"]


@dataclasses.dataclass(frozen=True)
class Bench:
    reconciler_ms: float
    snapshot_unchanged_ms: float
    snapshot_mb_s: float
    archive_ratio: float
    sources: tuple[str, ...]


def bench() -> Bench:
    """Run times from docs/BENCHMARKS.md, each with a stated fallback when it is not there."""
    text = _read("docs/BENCHMARKS.md")
    values = dict(FALLBACK)
    found = []
    m = re.search(r"^\| reconciler, 1 gateway\(s\), steady run \|[^|]*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|$", text, re.M)
    if m:
        values["reconciler_ms"] = float(m.group(1))
        found.append("reconciler_ms")
    m = re.search(r"^\| snapshot, unchanged state \|[^|]*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|$", text, re.M)
    if m:
        values["snapshot_unchanged_ms"] = float(m.group(1))
        found.append("snapshot_unchanged_ms")
    state = re.search(r"a state of [\d,]+ files, ([\d.]+) MB", text)
    row = re.search(r"^\| clawkeeper `snapshot` \(release[^)|]*\) \|[^|]*\|\s*([\d.]+) s \|\s*[\d.]+ MB/s \|[^|]*\|\s*([\d.]+) MB \|$",
                    text, re.M)
    if state and row:
        state_mb, wall_s, out_mb = float(state.group(1)), float(row.group(1)), float(row.group(2))
        values["snapshot_mb_s"] = state_mb / wall_s
        values["archive_ratio"] = out_mb / state_mb
        found += ["snapshot_mb_s", "archive_ratio"]
    return Bench(**values, sources=tuple(found))


def custom_metrics() -> tuple[list[str], list[str]]:
    """The metrics the functions print as embedded-metric lines: (without a dimension, per gateway),
    read from the reconciler's code, the one function that emits any. Every `metrics::emit` call
    with dimensions counts per gateway (a metric per gateway), one without counts once."""
    text = _read("functions/reconciler/src/pass.rs")
    plain, per_gateway = [], []
    for dims, body in re.findall(r"metrics::emit\(\s*&\[(.*?)\],\s*&\[(.*?)\],?\s*\)", text, re.S):
        names = re.findall(r'\("([A-Z][A-Za-z]+)",', body)
        (per_gateway if dims.strip() else plain).extend(names)
    if not plain:
        raise SystemExit("scripts/cost.py: no metrics found in functions/reconciler/src/pass.rs")
    return sorted(set(plain)), sorted(set(per_gateway), key=per_gateway.index)


def part_size_mib() -> int:
    m = re.search(r"part_size:\s*(\d+)\s*<<\s*20", _read("crates/aws/src/s3.rs"))
    if not m:
        raise SystemExit("scripts/cost.py: no part size in crates/aws/src/s3.rs")
    return int(m.group(1))


def retention_kept() -> int:
    text = _read("crates/snapshot/src/retention.rs")
    body = re.search(r"fn default\(\) -> Self \{\s*Self \{(.*?)\}", text, re.S)
    if not body:
        raise SystemExit("scripts/cost.py: no retention defaults in crates/snapshot/src/retention.rs")
    return sum(int(v) for v in re.findall(r"\w+:\s*(\d+)", body.group(1)))


def token_ttl_secs() -> int:
    m = re.search(r"TOKEN_TTL: Duration = Duration::from_secs\((\d+)\)", _read("functions/reconciler/src/pass.rs"))
    if not m:
        raise SystemExit("scripts/cost.py: no TOKEN_TTL in functions/reconciler/src/pass.rs")
    return int(m.group(1))


# ----------------------------------------------------------------------------- the estimate
@dataclasses.dataclass
class Item:
    key: str  # stable, for the checks
    name: str
    quantity: str
    monthly: float
    drives: str


@dataclasses.dataclass
class Estimate:
    mode: str
    summary: str
    parameters: str
    items: list[Item]
    # What the mode relies on that is the owner's, billed to them whether or not clawkeeper runs.
    yours: list[Item]
    # Numbers the checks compare with the template.
    counts: dict[str, float]

    @property
    def total(self) -> float:
        return sum(i.monthly for i in self.items)

    def item(self, key: str) -> Item | None:
        return next((i for i in self.items if i.key == key), None)


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _per_month(expression: str) -> float:
    """Runs a month of a `rate(...)` schedule expression."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not m:
        raise SystemExit(f"scripts/cost.py: cannot price the schedule {expression!r}")
    n, unit = int(m.group(1)), m.group(2).rstrip("s")
    minutes = n * {"minute": 1, "hour": 60, "day": 1440}[unit]
    return MINUTES / minutes


def _schedules(mode: str, template: dict) -> dict[str, tuple[float, str, str]]:
    """function logical id -> (runs a month, expression, state) of the schedules that target it."""
    arns = {logical: ids.get("Arn") for logical, ids in modes.physical_ids(mode).items()}
    out = {}
    for schedule in _of_type(template, "AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        target = props["Target"]["Arn"]
        function = next(f for f in FUNCTIONS if arns.get(f) == target)
        state = props.get("State", "ENABLED")
        runs = _per_month(props["ScheduleExpression"]) if state == "ENABLED" else 0.0
        out[function] = (runs, props["ScheduleExpression"], state)
    return out


def _requests(counts: dict, runs: float) -> dict[str, float]:
    """Billed request units a month of `runs` invocations making `counts` (service -> op -> n)."""
    out = {"ddb_read": 0.0, "ddb_write": 0.0, "s3_put": 0.0, "s3_get": 0.0}
    for op, n in counts.get("dynamodb", {}).items():
        if op in DDB_READ_UNITS:
            out["ddb_read"] += runs * n * DDB_READ_UNITS[op]
        elif op in DDB_WRITE_UNITS:
            out["ddb_write"] += runs * n * DDB_WRITE_UNITS[op]
        else:
            raise SystemExit(f"scripts/cost.py: no DynamoDB price for {op}")
    for op, n in counts.get("s3", {}).items():
        if op in S3_PUT_CLASS:
            out["s3_put"] += runs * n
        elif op in S3_GET_CLASS:
            out["s3_get"] += runs * n
        elif op not in S3_FREE:
            raise SystemExit(f"scripts/cost.py: no S3 request class for {op}")
    return out


def _money(x: float) -> str:
    if x == 0:
        return "$0.00"
    if x < 0.005:
        return "< $0.01"
    return f"${x:,.2f}"


def _n(x: float) -> str:
    """A count, rounded, with thousands separators."""
    return f"{round(x):,}"


def fargate_monthly(cpu_units: int, memory_mib: int, arch: str) -> float:
    """One Fargate Linux task running all month."""
    kind = "arm" if arch.upper() == "ARM64" else "x86"
    return HOURS * (cpu_units / 1024 * price(f"fargate_{kind}_vcpu_h") + memory_mib / 1024 * price(f"fargate_{kind}_gb_h"))


def _lambda_gb_s_price(function: dict) -> tuple[float, str]:
    arch = (function["Properties"].get("Architectures") or ["x86_64"])[0]
    return (price("lambda_arm_gb_s") if arch == "arm64" else price("lambda_x86_gb_s")), arch


def _parameters_text(mode: str) -> str:
    given = modes.MODES[mode]
    if not [k for k in given if k != "OwnerEmail" or given[k] != "none"]:
        return "the defaults, `OwnerEmail=none`"
    parts = []
    for name, value in given.items():
        if name == "OwnerEmail":
            parts.append("`OwnerEmail` (an address)" if value != "none" else "`OwnerEmail=none`")
        elif "," in value or name in ("SubnetIds", "RouteTableIds"):
            count = len(value.split(","))
            parts.append(f"`{name}` ({count})")
        elif value in ("true", "false", "endpoints", "nat") or value.isdigit():
            parts.append(f"`{name}={value}`")
        else:
            parts.append(f"`{name}`")
    return ", ".join(parts)


def estimate(mode: str) -> Estimate:
    t = modes.resolved(mode)
    p = modes.parameters(mode)
    runs_of = call_counts()
    b = bench()
    functions = {k: r for k, r in _of_type(t, "AWS::Lambda::Function").items()}
    schedules = _schedules(mode, t)
    items: list[Item] = []
    yours: list[Item] = []
    counts: dict[str, float] = {}

    created = p["CreateGateway"] == "true"
    has_efs = created or p["EfsAccessPointArn"] != ""
    in_vpc = sorted(k for k, f in functions.items() if f["Properties"].get("VpcConfig"))
    reconciler = functions["ReconcilerFunction"]
    r_env = reconciler["Properties"].get("Environment", {}).get("Variables", {})
    snapshots_on = r_env.get("CLAWKEEPER_SNAPSHOT_INTERVAL_SECS", "0") != "0"

    # -- Lambda: the reconciler, every minute
    r_runs, r_expr, _ = schedules["ReconcilerFunction"]
    r_run = runs_of["reconciler_steady_with_snapshots" if snapshots_on else "reconciler_steady"]
    r_ms = b.reconciler_ms + r_run["total"] * AWS_ROUND_TRIP_MS
    r_gb = reconciler["Properties"]["MemorySize"] / 1024
    gb_s_price, r_arch = _lambda_gb_s_price(reconciler)
    r_cost = r_runs * (r_ms / 1000 * r_gb * gb_s_price + price("lambda_million_requests") / 1e6)
    counts["reconciler_runs"] = r_runs
    items.append(Item("lambda_reconciler", "Lambda: reconciler", f"{_n(r_runs)} runs, {r_ms:.0f} ms, {r_gb * 1024:.0f} MB {r_arch}",
                      r_cost, f"`{r_expr}`; {r_run['total']} AWS requests a tick"))

    # -- Lambda: the snapshot schedule
    s_runs, s_expr, s_state = schedules.get("SnapshotFunction", (0.0, "", "DISABLED"))
    counts["snapshot_runs"] = s_runs
    archive_gb = STATE_GB * b.archive_ratio
    parts = max(1, math.ceil(archive_gb * 1024 / part_size_mib()))
    changed_runs = s_runs * CHANGED_SHARE
    unchanged_runs = s_runs - changed_runs
    snapshot = functions["SnapshotFunction"]
    s_gb = snapshot["Properties"]["MemorySize"] / 1024
    vcpu = min(1.0, snapshot["Properties"]["MemorySize"] / LAMBDA_MB_PER_VCPU)
    first, same = runs_of["snapshot_first_run"], runs_of["snapshot_unchanged"]
    changed_s = STATE_GB * 1000 / (b.snapshot_mb_s * vcpu) + (first["total"] + parts - 1) * AWS_ROUND_TRIP_MS / 1000
    unchanged_s = (b.snapshot_unchanged_ms + same["total"] * AWS_ROUND_TRIP_MS) / 1000
    if s_runs:
        gb_s_price, s_arch = _lambda_gb_s_price(snapshot)
        scratch_gb = max(0, int(snapshot["Properties"].get("EphemeralStorage", {}).get("Size", 512)) - 512) / 1024
        seconds = changed_runs * changed_s + unchanged_runs * unchanged_s
        s_cost = (seconds * (s_gb * gb_s_price + scratch_gb * price("lambda_ephemeral_gb_s"))
                  + s_runs * price("lambda_million_requests") / 1e6)
        items.append(Item("lambda_snapshot", "Lambda: snapshot", f"{_n(s_runs)} runs, {changed_s:.0f} s, {s_gb * 1024:.0f} MB {s_arch}",
                          s_cost, f"`{s_expr}`; a new archive of {STATE_GB:g} GB of state each run"))
    # -- Lambda: what events and the owner invoke
    e_runs, e_cost, e_names = 0.0, 0.0, []
    for logical, (n, ms, _why) in EVENT_DRIVEN.items():
        if logical == "LogAlertsFunction" and not _of_type(t, "AWS::Logs::SubscriptionFilter"):
            continue
        f = functions[logical]
        gb_s_price, _ = _lambda_gb_s_price(f)
        e_runs += n
        e_cost += n * (ms / 1000 * f["Properties"]["MemorySize"] / 1024 * gb_s_price + price("lambda_million_requests") / 1e6)
        e_names.append(BINARIES[logical])
    what = {"task-events": "ECS events", "log-alerts": "gateway log lines", "control": "your commands"}
    drives = [what[n] for n in e_names]
    items.append(Item("lambda_events", f"Lambda: {', '.join(e_names)}", f"{_n(e_runs)} runs (assumed)", e_cost,
                      ", ".join(drives[:-1]) + " and " + drives[-1]))

    # -- EventBridge Scheduler
    sched_runs = r_runs + s_runs
    items.append(Item("scheduler", "EventBridge Scheduler", f"{_n(sched_runs)} invocations",
                      sched_runs * price("scheduler_million") / 1e6,
                      "the reconciler's and the snapshot's schedules" if s_runs else
                      "the reconciler's schedule (the snapshot's is disabled)"))

    # -- DynamoDB and S3 requests, from the measured calls
    req = _requests(r_run["calls"], r_runs)
    for part, runs in ((first, changed_runs), (same, unchanged_runs), (runs_of[EVENT_RUN], e_runs)):
        for k, v in _requests(part["calls"], runs).items():
            req[k] += v
    req["s3_put"] += changed_runs * (parts - 1)  # a real state's archive is several parts
    ddb_cost = req["ddb_read"] * price("ddb_million_reads") / 1e6 + req["ddb_write"] * price("ddb_million_writes") / 1e6
    items.append(Item("dynamodb", "DynamoDB requests (on demand)",
                      f"{_n(req['ddb_read'])} read units, {_n(req['ddb_write'])} write units", ddb_cost,
                      f"{r_run['calls'].get('dynamodb', {}).get('GetItem', 0)} reads a tick; writes only when something changes"))
    s3_req = req["s3_put"] * price("s3_1k_put") / 1000 + req["s3_get"] * price("s3_1k_get") / 1000
    items.append(Item("s3_requests", "S3 requests", f"{_n(req['s3_put'])} PUT/LIST, {_n(req['s3_get'])} GET", s3_req,
                      "the reconciler's snapshot-freshness LIST each tick; archive parts" if snapshots_on
                      else "none: no snapshots in this mode"))

    # -- S3 storage: the kept archives and, the bucket being versioned, the deleted ones until they expire
    bucket = next(iter(_of_type(t, "AWS::S3::Bucket").values()))
    noncurrent_days = 0
    for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", []):
        noncurrent_days = max(noncurrent_days, int(rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0)))
    kept = min(retention_kept(), changed_runs) if s_runs else 0
    deleted = changed_runs / (HOURS / 24) * noncurrent_days if s_runs else 0
    stored_gb = (kept + deleted) * archive_gb
    items.append(Item("s3_storage", "S3 storage", f"{stored_gb:.1f} GB", stored_gb * price("s3_gb_month"),
                      f"up to {_n(kept)} kept archives of {archive_gb * 1000:.0f} MB, and the deleted ones for "
                      f"{noncurrent_days} days (versioned bucket)" if s_runs else "nothing stored without snapshots"))

    # -- KMS keys the stack creates
    keys = len(_of_type(t, "AWS::KMS::Key"))
    counts["kms_keys"] = keys
    items.append(Item("kms", "KMS customer managed keys", str(keys), keys * price("kms_key_month"),
                      "the notification topic's key" + (" and the snapshot bucket's" if keys > 1 else
                                                        " (the snapshots use your SnapshotKmsKeyArn)")
                      + "; requests: a few an hour (S3 bucket key)"))

    # -- CloudWatch
    alarms = len(_of_type(t, "AWS::CloudWatch::Alarm"))
    counts["alarms"] = alarms
    items.append(Item("alarms", "CloudWatch alarms", str(alarms), alarms * price("alarm_month"),
                      "heartbeat, errors, dead letters" + (", stale snapshot" if "StaleSnapshotAlarm" in t["Resources"] else "")))
    plain, per_gateway = custom_metrics()
    metrics = len(plain) + len(per_gateway)
    counts["custom_metrics"] = metrics
    items.append(Item("metrics", "CloudWatch custom metrics", str(metrics), metrics * price("custom_metric_month"),
                      ", ".join(plain) + (f" and, for the gateway, {', '.join(per_gateway)}" if per_gateway else
                                          ", for the whole fleet")))
    log_gb = (r_runs * LOG_BYTES["reconciler"] + s_runs * LOG_BYTES["snapshot"] + e_runs * LOG_BYTES["events"]) / 1e9
    items.append(Item("logs", "CloudWatch Logs ingestion", f"{log_gb * 1000:.0f} MB", log_gb * price("logs_ingest_gb"),
                      "the functions' logs and metric lines"))

    # -- SNS
    items.append(Item("sns", "SNS email", "a few a month", 0.0, "the first 1,000 emails a month are free"))

    # -- Secrets Manager
    secrets = len(_of_type(t, "AWS::SecretsManager::Secret"))
    counts["secrets"] = secrets
    token_reads = 0.0
    gateways = r_env.get("CLAWKEEPER_GATEWAYS", "")
    probes = r_env.get("CLAWKEEPER_PROBE_TASK_IP") == "true" or "probe_url" in gateways
    if "token_secret_arn" in gateways and probes:
        token_reads = MINUTES * 60 / token_ttl_secs()
    if secrets or token_reads:
        items.append(Item("secrets", "Secrets Manager",
                          f"{secrets} secret" + (f", {_n(token_reads)} reads" if token_reads else ""),
                          secrets * price("secret_month") + token_reads * price("secrets_10k_calls") / 1e4,
                          "the gateway token" + ("; the reconciler reads it every 5 minutes to probe" if token_reads else "")))
    if created and p.get("ModelApiKeysSecretArn"):
        yours.append(Item("model_keys_secret", "your model keys' secret (ModelApiKeysSecretArn)", "1 secret",
                          price("secret_month"), "ECS reads it at each task start: a few calls a month"))

    # -- VPC endpoints
    endpoints = _of_type(t, "AWS::EC2::VPCEndpoint")
    gateway_eps = sorted(r["Properties"]["ServiceName"].rsplit(".", 1)[-1] for r in endpoints.values()
                         if r["Properties"].get("VpcEndpointType", "Gateway") == "Gateway")
    interface_eps = sorted((r["Properties"]["ServiceName"].rsplit(".", 1)[-1], len(r["Properties"]["SubnetIds"]))
                           for r in endpoints.values() if r["Properties"].get("VpcEndpointType") == "Interface")
    az_endpoints = sum(n for _, n in interface_eps)
    counts["interface_endpoint_azs"] = az_endpoints
    if gateway_eps:
        items.append(Item("gateway_endpoints", "VPC gateway endpoints", f"{len(gateway_eps)} ({', '.join(gateway_eps)})",
                          0.0, "free"))
    if interface_eps:
        subnets = sorted({n for _, n in interface_eps})
        items.append(Item("interface_endpoints", "VPC interface endpoints",
                          f"{len(interface_eps)} ({', '.join(s for s, _ in interface_eps)}) x {'/'.join(map(str, subnets))} subnets",
                          az_endpoints * HOURS * price("interface_endpoint_az_h"),
                          f"{_money(HOURS * price('interface_endpoint_az_h'))} per endpoint per AZ; + $0.01 per GB "
                          "(clawkeeper's calls: well under 1 GB)"))

    # -- the created gateway
    for td in _of_type(t, "AWS::ECS::TaskDefinition").values():
        props = td["Properties"]
        cpu, mem = int(props["Cpu"]), int(props["Memory"])
        arch = props.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
        cost = fargate_monthly(cpu, mem, arch)
        counts["fargate"] = cost
        items.append(Item("fargate", "Fargate task (the gateway)", f"{cpu / 1024:g} vCPU / {mem / 1024:g} GB {arch}, {HOURS} h",
                          cost, "GatewayCpu, GatewayMemory; desired count 1"))
    # A NAT gateway is the owner's (shared with the VPC's other traffic): named, not in the total.
    nat_reasons: list[str] = []
    for service in _of_type(t, "AWS::ECS::Service").values():
        net = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        if net.get("AssignPublicIp") == "ENABLED":
            items.append(Item("public_ip", "Public IPv4 address", f"1, {HOURS} h", HOURS * price("public_ipv4_h"),
                              "GatewayAssignPublicIp=ENABLED"))
        else:
            nat_reasons.append("the gateway's internet access (image pulls, channels, model APIs) with "
                               "GatewayAssignPublicIp=DISABLED; ENABLED in public subnets instead: a public IPv4 "
                               f"address, {_money(HOURS * price('public_ipv4_h'))}")
    efs_reads_gb = changed_runs * STATE_GB
    for fs in _of_type(t, "AWS::EFS::FileSystem").values():
        items.append(Item("efs", "EFS storage (the gateway's state)", f"{STATE_GB:g} GB", STATE_GB * price("efs_standard_gb_month"),
                          "the state's size"))
        if fs["Properties"].get("ThroughputMode") == "elastic":
            items.append(Item("efs_reads", "EFS elastic throughput: snapshot reads", f"{efs_reads_gb:,.0f} GB",
                              efs_reads_gb * price("efs_elastic_read_gb"),
                              "each new archive reads the whole state; scales with state size and SnapshotIntervalSeconds"))
        if fs["Properties"].get("BackupPolicy", {}).get("Status") == "ENABLED":
            items.append(Item("efs_backup", "EFS automatic backups", f"{EFS_BACKUP_GB:g} GB",
                              EFS_BACKUP_GB * price("efs_backup_gb_month"), "daily, kept 35 days, incremental"))
    if has_efs and not created:
        yours.append(Item("efs_reads_yours", "reads of your file system by the snapshots", f"{efs_reads_gb:,.0f} GB",
                          efs_reads_gb * price("efs_elastic_read_gb"),
                          "only with elastic throughput ($0.03 per GB read); bursting and provisioned throughput bill no reads"))
    lbs = _of_type(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    if lbs:
        items.append(Item("alb", "Application Load Balancer", f"{len(lbs)}, {ALB_LCU} LCU, {HOURS} h",
                          len(lbs) * HOURS * (price("alb_h") + ALB_LCU * price("alb_lcu_h")),
                          f"CreateLoadBalancer=true: {_money(HOURS * price('alb_h'))} a month per load balancer, "
                          f"{_money(HOURS * price('alb_lcu_h'))} per LCU (an upper figure for one gateway's traffic)"))
        # An internet-facing load balancer has a public IPv4 address in each of its subnets.
        addresses = sum(len(lb["Properties"]["Subnets"]) for lb in lbs.values()
                        if lb["Properties"].get("Scheme") == "internet-facing")
        counts["alb_public_ipv4"] = addresses
        if addresses:
            items.append(Item("alb_public_ip", "Public IPv4 addresses of the load balancer", f"{addresses}, {HOURS} h",
                              addresses * HOURS * price("public_ipv4_h"), "one per subnet of PublicSubnetIds"))
    elif p.get("LoadBalancerSecurityGroupId"):
        yours.append(Item("alb_yours", "your load balancer (LoadBalancerSecurityGroupId)", f"1, {HOURS} h",
                          HOURS * (price("alb_h") + ALB_LCU * price("alb_lcu_h")),
                          f"an Application Load Balancer with {ALB_LCU} LCU"))

    # -- the functions in the VPC reach AWS through the owner's NAT gateway with VpcEgress=nat
    nat_gb = 0.0
    if in_vpc and p["VpcEgress"] == "nat":
        if "SnapshotFunction" in in_vpc and s_runs:
            nat_gb += changed_runs * archive_gb * 2  # each archive up, and read back to verify it
        names = [f"`{BINARIES[f]}`" for f in in_vpc]
        who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        nat_reasons.append(f"{who} {'reaches' if len(names) == 1 else 'reach'} AWS through it (VpcEgress=nat)"
                           + ("; the archives too, unless your route tables have an S3 gateway endpoint" if nat_gb else ""))
    counts["nat_gb"] = nat_gb
    if nat_reasons:
        yours.append(Item("nat_gateway", "your NAT gateway, if you run one for this",
                          f"1, {HOURS} h" + (f"; {nat_gb:,.0f} GB" if nat_gb else ""),
                          HOURS * price("nat_h") + nat_gb * price("nat_gb"),
                          "; ".join(nat_reasons) + f". {_money(HOURS * price('nat_h'))} per NAT gateway (one per AZ "
                          "to ride out an AZ failure) + $0.045 per GB"))

    summary = []
    summary.append("creates the gateway" if created else "watches your gateway")
    if has_efs:
        summary.append("snapshots" + ("" if created else " of your EFS"))
    if p["ProbeInVpc"] == "true":
        summary.append("private-IP probes")
    if p["GatewayLogGroup"] or created:
        summary.append("log alerts")
    if in_vpc:
        subnets = len(p["SubnetIds"].split(","))
        summary.append(f"`VpcEgress={p['VpcEgress']}`, {subnets} subnet{'s' if subnets > 1 else ''}")
    if p["SnapshotKmsKeyArn"]:
        summary.append("your KMS key")
    if p.get("LoadBalancerSecurityGroupId"):
        summary.append("your load balancer")
    if lbs:
        summary.append("an HTTPS load balancer")
    if created and p.get("EnableBedrock") == "true":
        summary.append("Bedrock")
    if created and p.get("ModelApiKeysSecretArn"):
        summary.append("model keys from your secret")
    return Estimate(mode, "; ".join(summary), _parameters_text(mode), items, yours, counts)


# ----------------------------------------------------------------------------- a fleet
# One stack watching many registered gateways, priced in the watch-only mode from the reconciler's
# steady runs over 10, 100 and 1,000 gateways (docs/fleet-bench.json, written by `make bench`) and,
# for one gateway, docs/call-counts.json as in that mode's table.
FLEET_MODE = "defaults"
FLEET_SIZES = (1, 10, 100, 1000)
# What grows with the fleet; every other item of the mode's table is the stack's, whatever its size.
FLEET_VARIABLE = ("lambda_reconciler", "lambda_events", "dynamodb", "logs")
# A registration item (the gateway object, owner, time, who): what the registry Query reads per gateway.
REGISTRATION_BYTES = 300
# DynamoDB bills a strongly consistent read 1 unit per 4 KB of each item read, a BatchGetItem too
# (per item, not per call); a gateway's state item stays below 4 KB.
DDB_READ_UNIT_BYTES = 4096
# Lambda's own records of an invocation (START, END, REPORT) beside what the function logs.
LAMBDA_RECORD_BYTES = 1024
# ECS events of a registered gateway: as many as the stack's own gateway's (EVENT_DRIVEN).
EVENTS_PER_GATEWAY = "TaskEventsFunction"


def fleet_bench() -> dict | None:
    """docs/fleet-bench.json, when `make bench` has written it."""
    path = ROOT / "docs" / "fleet-bench.json"
    return json.loads(path.read_text()) if path.exists() else None


@dataclasses.dataclass
class FleetRow:
    gateways: int
    requests: int  # AWS requests of one reconciler tick
    tick_ms: float  # one tick's billed duration
    parts: dict[str, float]  # monthly, by FLEET_VARIABLE key and "fixed"

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def _fleet_run(size: int, fleet: dict | None) -> dict | None:
    """The measured steady run of `size` gateways (snapshots off), or None."""
    if size == 1:
        run = call_counts()["reconciler_steady"]
        return {"total": run["total"], "wall_ms": None, "log_bytes": None}
    for run in (fleet or {}).get("reconciler_steady", []):
        if run["gateways"] == size and not run["snapshots"]:
            return run
    return None


def fleet_row(size: int, run: dict, e: Estimate, b: Bench) -> FleetRow:
    """The watch-only stack watching `size` gateways, a month."""
    t = modes.resolved(FLEET_MODE)
    functions = _of_type(t, "AWS::Lambda::Function")
    reconciler = functions["ReconcilerFunction"]
    r_runs = e.counts["reconciler_runs"]
    # One gateway: the mode's own figures (BENCHMARKS.md's run, LOG_BYTES); a fleet: its measured run.
    wall_ms = b.reconciler_ms if run["wall_ms"] is None else run["wall_ms"]
    log_bytes = LOG_BYTES["reconciler"] if run["log_bytes"] is None else run["log_bytes"] + LAMBDA_RECORD_BYTES
    tick_ms = wall_ms + run["total"] * AWS_ROUND_TRIP_MS
    gb_s_price, _ = _lambda_gb_s_price(reconciler)
    parts = {"lambda_reconciler": r_runs * (tick_ms / 1000 * reconciler["Properties"]["MemorySize"] / 1024 * gb_s_price
                                            + price("lambda_million_requests") / 1e6)}
    e_runs, e_cost = 0.0, 0.0
    for logical, (n, ms, _why) in EVENT_DRIVEN.items():
        if logical == "LogAlertsFunction" and not _of_type(t, "AWS::Logs::SubscriptionFilter"):
            continue
        runs = n * size if logical == EVENTS_PER_GATEWAY else n
        gb_s_price, _ = _lambda_gb_s_price(functions[logical])
        e_runs += runs
        e_cost += runs * (ms / 1000 * functions[logical]["Properties"]["MemorySize"] / 1024 * gb_s_price
                          + price("lambda_million_requests") / 1e6)
    parts["lambda_events"] = e_cost
    # Each tick reads every state (a unit each) and the registry (its items' bytes).
    read_units = size + math.ceil(size * REGISTRATION_BYTES / DDB_READ_UNIT_BYTES)
    req = _requests(call_counts()[EVENT_RUN]["calls"], e_runs)
    parts["dynamodb"] = ((r_runs * read_units + req["ddb_read"]) * price("ddb_million_reads")
                         + req["ddb_write"] * price("ddb_million_writes")) / 1e6
    parts["logs"] = (r_runs * log_bytes + e_runs * LOG_BYTES["events"]) / 1e9 * price("logs_ingest_gb")
    parts["fixed"] = sum(i.monthly for i in e.items if i.key not in FLEET_VARIABLE)
    return FleetRow(size, run["total"], tick_ms, parts)


def fleet_rows() -> list[FleetRow]:
    e, b, fleet = estimate(FLEET_MODE), bench(), fleet_bench()
    rows = []
    for size in FLEET_SIZES:
        run = _fleet_run(size, fleet)
        if run is not None:
            rows.append(fleet_row(size, run, e, b))
    # The one-gateway row is the mode's own table, priced the same way.
    if rows and rows[0].gateways == 1 and abs(rows[0].total - e.total) > 0.005:
        raise SystemExit(f"scripts/cost.py: the fleet's one-gateway row ({rows[0].total:.2f}) is not the "
                         f"{FLEET_MODE} mode's total ({e.total:.2f})")
    return rows


def _fleet_headroom(fleet: dict) -> str:
    """The largest measured fleet's run against the reconciler's timeout and memory in the template."""
    runs = [r for r in fleet.get("reconciler_steady", []) if not r["snapshots"]]
    run = max(runs, key=lambda r: r["gateways"])
    props = _of_type(modes.resolved(FLEET_MODE), "AWS::Lambda::Function")["ReconcilerFunction"]["Properties"]
    return (f"- At {_n(run['gateways'])} gateways the measured tick took {run['wall_ms'] / 1000:.1f} s and its process "
            f"peaked at {run['peak_rss_kib'] / 1024:.0f} MiB: the reconciler has {props['Timeout']} s and "
            f"{props['MemorySize']} MB.")


def _steady_changes(fleet: dict) -> str:
    """What the measured steady runs wrote and published: nothing, when the fleet is steady."""
    writes = publishes = 0
    for run in fleet.get("reconciler_steady", []):
        writes += sum(n for op, n in run["calls"].get("dynamodb", {}).items() if op in DDB_WRITE_UNITS)
        publishes += run["calls"].get("sns", {}).get("Publish", 0)
    if writes == publishes == 0:
        return "The measured steady ticks wrote no item and published no notice."
    return f"The measured steady ticks wrote {writes} times and published {publishes} notices in all (not priced here)."


def _snapshot_reads_per_gateway(fleet: dict | None) -> tuple[int, float, float] | None:
    """(gateways, S3 requests a gateway and tick, $ a gateway-month) of what snapshots on add to the
    reconciler's tick, at the largest fleet measured: one more read unit a gateway (its snapshot status
    item, below 4 KB) and whatever S3 requests the run made."""
    runs = [r for r in (fleet or {}).get("reconciler_steady", []) if r["snapshots"]]
    if not runs:
        return None
    run = max(runs, key=lambda r: r["gateways"])
    req = _requests({"s3": run["calls"].get("s3", {})}, MINUTES)
    s3_monthly = req["s3_put"] * price("s3_1k_put") / 1000 + req["s3_get"] * price("s3_1k_get") / 1000
    status_reads = MINUTES * run["gateways"] * price("ddb_million_reads") / 1e6
    s3_per_tick = sum(run["calls"].get("s3", {}).values()) / run["gateways"]
    return run["gateways"], s3_per_tick, (s3_monthly + status_reads) / run["gateways"]


def fleet_section() -> list[str]:
    fleet = fleet_bench()
    rows = fleet_rows()
    lines = [
        "## A fleet",
        "",
        f"One stack watching more gateways registered at run time (`clawkeeper gateways add`), in the "
        f"[`{FLEET_MODE}`](#{FLEET_MODE}) mode (watch only, no snapshots). The reconciler's requests and run "
        "times for 10, 100 and 1,000 gateways come from its steady runs over registered gateways of one cluster "
        "([`fleet-bench.json`](fleet-bench.json), `make bench`: the section \"Fleet\" of "
        "[`BENCHMARKS.md`](BENCHMARKS.md)); one gateway is the mode's table above. What grows with the fleet: "
        "the reconciler's run (its batched ECS and DynamoDB reads, the probes), DynamoDB read units (every "
        "state and the registry are read each tick, billed per item), the log lines (a few per gateway and "
        "tick) and the ECS events of every gateway; the alarms, metrics, keys and schedule are the stack's "
        "whatever its size.",
        "",
    ]
    if fleet is None:
        return lines + ["`docs/fleet-bench.json` is missing: `make bench` measures the fleet.", ""]
    lines += [
        "| gateways | AWS requests a tick | tick | Lambda | DynamoDB | CloudWatch Logs | the rest of the stack | "
        "total a month | per gateway-month |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lam = r.parts["lambda_reconciler"] + r.parts["lambda_events"]
        lines.append(f"| {_n(r.gateways)} | {_n(r.requests)} | {r.tick_ms:,.0f} ms | {_money(lam)} | "
                     f"{_money(r.parts['dynamodb'])} | {_money(r.parts['logs'])} | {_money(r.parts['fixed'])} | "
                     f"**{_money(r.total)}** | {_money(r.total / r.gateways)} |")
    lines += [
        "",
        f"- A tick's billed time is the measured run ({fleet.get('binaries', '?')} binaries, against a local AWS) "
        f"plus {AWS_ROUND_TRIP_MS} ms for each of its AWS requests, as if made one after the other (an upper "
        "figure: the per-gateway calls run 64 at once); the probes answered on loopback, and a probe over the "
        "network adds its round trip for every 64 gateways.",
        f"- DynamoDB: a read unit for each state each tick (a state item is taken to be below 4 KB), and the registry's "
        f"{REGISTRATION_BYTES} bytes a gateway in units of 4 KB; each gateway's "
        f"{EVENT_DRIVEN[EVENTS_PER_GATEWAY][0]} ECS events a month read and write as a routine task stop.",
        f"- Logs: what the measured run logged, as JSON lines at INFO (the template's `LoggingConfig`), plus "
        f"{LAMBDA_RECORD_BYTES} bytes of Lambda's own records a tick.",
        "- ECS requests are free. " + _steady_changes(fleet) + " Notices and restarts cost as in the mode's "
        "table, per gateway that needs them.",
    ]
    lines.append(_fleet_headroom(fleet))
    snapshots = _snapshot_reads_per_gateway(fleet)
    if snapshots:
        gateways, s3_per_tick, monthly = snapshots
        lines.append(f"- With snapshots on, the reconciler also reads each gateway's snapshot status item in its batched "
                     f"reads ({_n(s3_per_tick)} S3 requests a gateway and tick, measured over {_n(gateways)} gateways): "
                     f"{_money(monthly)} a gateway-month, on top of each gateway's own snapshots (priced for one gateway "
                     "in [`efs-snapshots`](#efs-snapshots)).")
    lines.append("")
    return lines


# ----------------------------------------------------------------------------- the document
def _table(rows: list[Item]) -> list[str]:
    out = ["| item | quantity | $/month | what drives it |", "|---|---|---:|---|"]
    for i in rows:
        out.append(f"| {i.name} | {i.quantity} | {_money(i.monthly)} | {i.drives} |")
    return out


def render() -> str:
    b = bench()
    plain, per_gateway = custom_metrics()
    estimates = [estimate(m) for m in modes.MODES]
    snapshot_mem = 512
    lines = [
        "# What clawkeeper costs",
        "",
        "Generated by `make cost` (`scripts/cost.py`) from what each parameter mode of `template.yaml` creates "
        "(the modes of `tests/template/modes.py`), the AWS requests the functions make per run "
        "([`call-counts.json`](call-counts.json), measured by the end-to-end tests) and the run times of "
        "[`BENCHMARKS.md`](BENCHMARKS.md). Never edited by hand: `make cost` regenerates it, and "
        "`make template-lint` fails when it is out of date.",
        "",
        f"Per month (730 hours), us-east-1 list prices as of {PRICES_AS_OF}, **before any free tier**. "
        "Your gateway's own task and file system, when you run them, are on your bill already; the tables list "
        "them only where the stack creates them, and name separately what a mode relies on that is yours "
        "(a NAT gateway, reads of your file system).",
        "",
        "## All modes",
        "",
        "| mode | what it is | clawkeeper's stack | and yours, if you run it for this |",
        "|---|---|---:|---:|",
    ]
    for e in estimates:
        extra = sum(i.monthly for i in e.yours)
        lines.append(f"| [`{e.mode}`](#{e.mode}) | {e.summary} | {_money(e.total)} | "
                     + (f"+ {_money(extra)}" if e.yours else "-") + " |")
    lines += [""] + fleet_section()
    lines += [
        "## Assumptions",
        "",
        f"- One gateway per stack (the template watches one). Its state (`/home/node`) is {STATE_GB:g} GB; "
        "every scheduled snapshot finds it changed and writes a new archive (a busy gateway writes its "
        "sessions and databases all the time; an idle one's unchanged runs cost less, see "
        "`snapshot_unchanged` in `call-counts.json`).",
        f"- An archive is {b.archive_ratio:.3f} of the state"
        + (" (the snapshot throughput run of `BENCHMARKS.md`)" if "archive_ratio" in b.sources
           else " (stated: `BENCHMARKS.md` has no throughput run)")
        + f", uploaded in parts of {part_size_mib()} MiB (`crates/aws/src/s3.rs`). Retention keeps up to "
        f"{retention_kept()} archives (`crates/snapshot/src/retention.rs`); the bucket is versioned, so a "
        "deleted archive is billed until its noncurrent version expires (the template's lifecycle rule).",
        f"- Lambda run times: a reconciler tick {b.reconciler_ms:g} ms"
        + (" (`BENCHMARKS.md`, \"Per run\")" if "reconciler_ms" in b.sources else " (stated)")
        + f" plus {AWS_ROUND_TRIP_MS} ms per AWS request (the benchmarks run against a local AWS); a snapshot "
        f"reads, compresses and uploads at {b.snapshot_mb_s:.1f} MB/s per vCPU"
        + (" (`BENCHMARKS.md`, snapshot throughput)" if "snapshot_mb_s" in b.sources else " (stated)")
        + f", and Lambda gives {snapshot_mem} MB {snapshot_mem / LAMBDA_MB_PER_VCPU:.2f} of a vCPU "
        f"({LAMBDA_MB_PER_VCPU} MB is one). Cold-start init (about 10 ms) is left out.",
        "- Invocations no schedule drives: "
        + "; ".join(f"`{BINARIES[name]}` {n} a month, {ms} ms each ({why})"
                    for name, (n, ms, why) in EVENT_DRIVEN.items())
        + "; each makes the requests of a routine task stop (`task_events_routine_stop`).",
        "- DynamoDB: a strongly consistent read of an item up to 4 KB is 1 read unit; a transaction "
        "writes 2 items (the state and its dedupe marker) at 2 units each. S3: DELETE is free, "
        "`DeleteObjects` is priced as a POST.",
        f"- Custom metrics: {len(plain) + len(per_gateway)}, the embedded-metric lines of the reconciler "
        f"(`functions/reconciler/src/pass.rs`, listed in `ARCHITECTURE.md`): {', '.join(plain)}"
        + (f", and per gateway {', '.join(per_gateway)}." if per_gateway else
           ", none per gateway: the count does not grow with the fleet."),
        f"- Logs: {LOG_BYTES['reconciler'] // 1024} KB per reconciler tick, {LOG_BYTES['snapshot'] // 1024} KB "
        f"per snapshot, {LOG_BYTES['events'] // 1024} KB per other invocation.",
        f"- A created file system (elastic throughput) is read in full by each new archive; its automatic "
        f"backups hold {EFS_BACKUP_GB:g} GB.",
        f"- A load balancer (`CreateLoadBalancer=true`, or yours) is priced at {ALB_LCU:g} LCU all month: one LCU is "
        "25 new connections a second, 3,000 active connections or 1 GB processed an hour, far more than one "
        "gateway's webhooks and Control UI, so this is an upper figure. An internet-facing one also has a "
        "public IPv4 address in each of its subnets.",
        "- Left out, each well under a cent a month: ECS API calls and ECS events (free), the empty "
        "dead-letter queue, DynamoDB storage and point-in-time recovery (a few KB), sidecars and status "
        "files in S3, KMS requests (the bucket key keeps them to a few an hour), SNS publishes, log storage, "
        "in-region data transfer. Not estimated: the gateway's own logs, its own file system I/O, its model calls "
        "(Bedrock's per-token prices, your model providers' bills) and its "
        "internet traffic.",
        "",
        "## Prices",
        "",
        "| price | USD | unit | AWS pricing page |",
        "|---|---:|---|---|",
    ]
    for key, (usd, unit, source) in PRICES.items():
        lines.append(f"| `{key}` | {f'{usd:.10f}'.rstrip('0').rstrip('.')} | {unit} | {source} |")
    lines.append("")
    for e in estimates:
        lines += [f"## {e.mode}", "", f"{e.summary[0].upper()}{e.summary[1:]}. Parameters: {e.parameters}.", ""]
        lines += _table(e.items)
        lines += [f"| **total** | | **{_money(e.total)}** | |", ""]
        if e.yours:
            lines += ["Yours, if you run it for this (not in the total):", ""]
            lines += _table(e.yours)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    text = render()
    if sys.argv[1:] == ["--write"]:
        (ROOT / "docs" / "COST.md").write_text(text)
    elif sys.argv[1:]:
        raise SystemExit("usage: scripts/cost.py [--write]")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
