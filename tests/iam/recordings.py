"""Reading the AWS calls the end-to-end tests recorded (tests/src/recorder.rs writes them).

One file per function process under target/iam-calls/: a first line describing the process
({"kind": "process", "function", "binary", "test", "env"}), then one line per request
({"kind": "call", "endpoint", "service", "method", "target", "headers", "body", "body_bytes",
"body_truncated", "status"}), or {"kind": "error"} where the recorder could not parse the HTTP
stream. Anything unexpected is an error naming the file and line: a recording the check cannot
read must fail it, never be skipped, or a call could go unchecked.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field


class RecordingError(ValueError):
    """A recording that cannot be read as the recorder writes it."""


@dataclass
class Call:
    """One recorded request, and where it was recorded (for messages)."""

    where: str
    endpoint: str
    service: str
    method: str
    target: str
    headers: dict
    body: str | None
    body_truncated: bool
    status: int | None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class Process:
    """One function process of a test and every request it made."""

    file: str
    function: str
    binary: str
    test: str | None
    env: dict[str, str]
    calls: list[Call] = field(default_factory=list)


_CALL_KEYS = {"kind", "endpoint", "service", "method", "target", "headers", "body_bytes", "status"}


def _call(where: str, line: dict) -> Call:
    missing = _CALL_KEYS - set(line)
    if missing:
        raise RecordingError(f"{where}: a call without {sorted(missing)}")
    if not line["service"]:
        raise RecordingError(
            f"{where}: {line['method']} {line['target']} was not signed with SigV4, so its service is unknown")
    if line["status"] is not None and not isinstance(line["status"], int):
        raise RecordingError(f"{where}: status {line['status']!r} is not a number")
    return Call(
        where=where,
        endpoint=line["endpoint"],
        service=line["service"],
        method=line["method"],
        target=line["target"],
        headers=line["headers"],
        body=line.get("body"),
        body_truncated=bool(line.get("body_truncated")),
        status=line["status"],
    )


def read_file(path: pathlib.Path) -> Process:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise RecordingError(f"{path}: empty (the process line is missing)")
    process = None
    for number, text in enumerate(lines, 1):
        where = f"{path}:{number}"
        try:
            line = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecordingError(f"{where}: not JSON ({e}): {text[:200]!r}") from None
        if not isinstance(line, dict):
            raise RecordingError(f"{where}: not a JSON object: {text[:200]!r}")
        kind = line.get("kind")
        if number == 1:
            if kind != "process":
                raise RecordingError(f"{where}: the first line is {kind!r}, not the process line")
            for key in ("function", "binary", "env"):
                if key not in line:
                    raise RecordingError(f"{where}: the process line has no {key!r}")
            process = Process(str(path), line["function"], line["binary"], line.get("test"), line["env"])
        elif kind == "call":
            process.calls.append(_call(where, line))
        elif kind == "error":
            raise RecordingError(f"{where}: the recorder could not follow the HTTP stream: {line.get('message')}")
        else:
            raise RecordingError(f"{where}: unknown line kind {kind!r}")
    return process


def read_dir(directory: pathlib.Path) -> list[Process]:
    """Every recording of a directory, in a stable order."""
    if not directory.is_dir():
        raise RecordingError(f"{directory}: no recordings (run the end-to-end tests first: make unit-and-e2e)")
    files = sorted(p for p in directory.iterdir() if p.is_file())
    strays = [p.name for p in files if p.suffix != ".jsonl"]
    if strays:
        raise RecordingError(f"{directory}: files the recorder does not write: {strays[:5]}")
    return [read_file(p) for p in files]
