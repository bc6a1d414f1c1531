"""Granted actions that no recorded request can use, and why. A last resort: a grant a function
does not use is removed from template.yaml, and one used only on a path the end-to-end tests do
not reach gets a test that reaches it. What is left here is used by AWS on the function's behalf
outside its own requests."""

_DESTINATION = ("SAM's grant for the function's EventInvokeConfig OnFailure destination: Lambda itself sends a "
                "failed asynchronous event to the dead-letter queue with the function's role, after its retries; "
                "no request of the function")

# (function binary, IAM action) -> why no recording can show it.
ALLOWED_UNUSED = {
    ("task-events", "sqs:SendMessage"): _DESTINATION,
    ("log-alerts", "sqs:SendMessage"): _DESTINATION,
    ("snapshot", "elasticfilesystem:ClientMount"):
        "Lambda mounts the EFS access point (FileSystemConfigs) with the function's role when it starts "
        "an execution environment; no request of the function, and the tests use a local directory",
    ("restore", "elasticfilesystem:ClientMount"):
        "Lambda mounts the EFS access point (FileSystemConfigs) with the function's role when it starts "
        "an execution environment; no request of the function, and the tests use a local directory",
    ("restore", "elasticfilesystem:ClientWrite"):
        "the read-write mount restore needs to swap the state dir; Lambda mounts it, as above",
}


def reason(binary: str, action: str) -> str | None:
    return ALLOWED_UNUSED.get((binary, action))
