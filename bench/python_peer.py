"""Benchmark peer: a Python 3 / boto3 Lambda doing the same AWS client set-up as a clawkeeper
function (ECS, SNS, DynamoDB, S3 clients), then serving the Runtime API like the real thing.

Run by the bench harness with AWS_LAMBDA_RUNTIME_API set; uses only the standard library and
boto3 (installed in the project's .venv with moto).
"""
import json
import os
import urllib.request

# Lambda sets AWS_REGION; older botocore reads only AWS_DEFAULT_REGION.
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))

import boto3  # noqa: E402

session = boto3.session.Session()
CLIENTS = {name: session.client(name) for name in ("ecs", "sns", "dynamodb", "s3")}
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


TABLE = os.environ.get("CLAWKEEPER_TABLE", "clawkeeper-test")
TOPIC = os.environ.get("CLAWKEEPER_TOPIC_ARN", "")
REV = {"n": 0}


def handle_ecs_event(event):
    """The AWS calls task-events makes for an event: read the state, write it with a condition
    (state + dedupe marker in one transaction), and for an unexpected stop publish the notice and
    confirm the outbox with a second write."""
    ddb = CLIENTS["dynamodb"]
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "PEER#home"}, "sk": {"S": "STATE"}}, ConsistentRead=True)

    def write():
        REV["n"] += 1
        item = {"pk": {"S": "PEER#home"}, "sk": {"S": "STATE"}, "rev": {"N": str(REV["n"])},
                "state": {"S": json.dumps(event.get("detail", {}))[:2000]}}
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item}}])

    write()
    detail = event.get("detail", {})
    if detail.get("lastStatus") == "STOPPED" and detail.get("stopCode") != "UserInitiated" and TOPIC:
        CLIENTS["sns"].publish(TopicArn=TOPIC, Subject="peer: gateway down", Message="peer notice",
                               MessageAttributes={"kind": {"DataType": "String", "StringValue": "peer"}})
        write()
    return {"ok": True}


def handle(event):
    if "detail-type" in event:
        return handle_ecs_event(event)
    if event.get("action") == "status":
        cluster = os.environ.get("BENCH_CLUSTER", "openclaw")
        service = os.environ.get("BENCH_SERVICE", "openclaw-gateway")
        out = CLIENTS["ecs"].describe_services(cluster=cluster, services=[service])
        return {"services": [s["serviceName"] for s in out.get("services", [])]}
    return event


while True:
    with urllib.request.urlopen(API + "/invocation/next") as resp:
        request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(resp.read() or b"{}")
    body = json.dumps(handle(event)).encode()
    urllib.request.urlopen(urllib.request.Request(API + f"/invocation/{request_id}/response", data=body, method="POST")).read()
