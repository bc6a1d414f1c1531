"""Unit tests of the IAM check's reading of recordings and its mapping to IAM (run by
`make iam-coverage` before the check itself): the cases where AWS authorizes differently from
what the API suggests, and the refusals of anything unknown or unreadable."""
import json
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import mapping  # noqa: E402
import recordings  # noqa: E402

ACCOUNT = "123456789012"
ENV = mapping.Env({
    "AWS_REGION": "us-east-1",
    "CLAWKEEPER_GATEWAYS": json.dumps([
        {"id": "home", "cluster": "openclaw", "service": "openclaw-gateway"},
        {"id": "lab", "cluster": "lab", "task_family": "openclaw-lab",
         "token_secret_arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:token"},
    ]),
    "CLAWKEEPER_SNAPSHOT_FUNCTION": "snapshot",
}, ACCOUNT)


def call(service, method="POST", target="/", body=None, **headers):
    return recordings.Call(where="test", endpoint="default", service=service, method=method, target=target,
                           headers=headers, body=body if body is None or isinstance(body, str) else json.dumps(body),
                           body_truncated=False, status=200)


def ecs(op, body):
    return call("ecs", body=body, **{"x-amz-target": f"AmazonEC2ContainerServiceV20141113.{op}"})


def ddb(op, body):
    return call("dynamodb", body=body, **{"x-amz-target": f"DynamoDB_20120810.{op}"})


def needs(c):
    return [(n.action, n.resource, dict(n.context), n.gateway, n.requires) for n in mapping.map_call(c, ENV, "pk").needs]


class Ecs(unittest.TestCase):
    def test_list_tasks_of_a_service_is_authorized_on_star_with_the_cluster(self):
        got = needs(ecs("ListTasks", {"cluster": "openclaw", "serviceName": "openclaw-gateway"}))
        self.assertEqual(got, [("ecs:ListTasks", "*", {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/openclaw"},
                                "home", None)])

    def test_a_task_id_becomes_the_task_arn_in_its_cluster(self):
        (action, resource, _, gateway, _), = needs(ecs("StopTask", {"cluster": "openclaw", "task": "abc"}))
        self.assertEqual((action, resource, gateway), ("ecs:StopTask", f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/openclaw/abc", "home"))

    def test_run_task_needs_a_standalone_gateway(self):
        (_, _, _, gateway, requires), = needs(ecs("RunTask", {"cluster": "lab", "taskDefinition": "openclaw-lab"}))
        self.assertEqual((gateway, requires), ("lab", "gateway:task_family"))

    def test_an_unknown_operation_is_refused_by_name(self):
        with self.assertRaisesRegex(mapping.MappingError, "ECS DeleteService"):
            mapping.map_call(ecs("DeleteService", {}), ENV, "pk")


class DynamoDb(unittest.TestCase):
    def test_a_transaction_is_authorized_item_by_item_with_leading_keys(self):
        body = {"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "GW#home"}, "sk": {"S": "STATE"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "GW#home"}, "sk": {"S": "X"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "GW#home"}, "sk": {"S": "Y"}}}},
        ]}
        got = needs(ddb("TransactWriteItems", body))
        table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
        keys = {"dynamodb:LeadingKeys": ("GW#home",)}
        self.assertEqual(got, [("dynamodb:PutItem", table, keys, "home", None),
                               ("dynamodb:ConditionCheckItem", table, keys, "home", None),
                               ("dynamodb:DeleteItem", table, keys, "home", None)])

    def test_a_query_on_an_index_is_authorized_on_the_index(self):
        body = {"TableName": "t", "IndexName": "by-kind", "KeyConditionExpression": "#p = :v",
                "ExpressionAttributeNames": {"#p": "pk"}, "ExpressionAttributeValues": {":v": {"S": "GW#lab"}}}
        (_, resource, keys, gateway, _), = needs(ddb("Query", body))
        self.assertEqual((resource, keys, gateway), (
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/index/by-kind", {"dynamodb:LeadingKeys": ("GW#lab",)}, "lab"))

    def test_a_scan_has_no_leading_keys(self):
        (action, _, keys, gateway, _), = needs(ddb("Scan", {"TableName": "t"}))
        self.assertEqual((action, keys, gateway), ("dynamodb:Scan", {}, None))


class S3(unittest.TestCase):
    def test_listing_is_list_bucket_with_the_prefix(self):
        (action, resource, keys, gateway, _), = needs(call("s3", "GET", "/b?list-type=2&prefix=home%2Fsnapshots%2F"))
        self.assertEqual((action, resource, keys["s3:prefix"], gateway), ("s3:ListBucket", "arn:aws:s3:::b", "home/snapshots/", "home"))

    def test_every_multipart_step_is_put_object_and_uses_the_key_for_writing(self):
        for method, target in [("POST", "/b/home/snapshots/a.tar.gz?uploads"),
                               ("PUT", "/b/home/snapshots/a.tar.gz?partNumber=1&uploadId=u&x-id=UploadPart"),
                               ("POST", "/b/home/snapshots/a.tar.gz?uploadId=u")]:
            m = mapping.map_call(call("s3", method, target), ENV, "pk")
            self.assertEqual([n.action for n in m.needs], ["s3:PutObject"], target)
            self.assertEqual([k.what for k in m.kms], ["s3-multipart"], target)

    def test_delete_objects_deletes_each_key_of_the_body(self):
        body = "<Delete><Object><Key>home/snapshots/a.json</Key></Object><Object><Key>home/x</Key>" \
               "<VersionId>v1</VersionId></Object><Quiet>true</Quiet></Delete>"
        got = needs(call("s3", "POST", "/b?delete", body))
        self.assertEqual([(a, r) for a, r, *_ in got], [("s3:DeleteObject", "arn:aws:s3:::b/home/snapshots/a.json"),
                                                        ("s3:DeleteObjectVersion", "arn:aws:s3:::b/home/x")])

    def test_copy_reads_the_source_and_writes_the_target(self):
        got = needs(call("s3", "PUT", "/b/home/new", **{"x-amz-copy-source": "b/home/old"}))
        self.assertEqual([(a, r) for a, r, *_ in got], [("s3:PutObject", "arn:aws:s3:::b/home/new"),
                                                        ("s3:GetObject", "arn:aws:s3:::b/home/old")])

    def test_the_sdk_operation_name_must_agree(self):
        with self.assertRaisesRegex(mapping.MappingError, "x-id=PutObject"):
            mapping.map_call(call("s3", "GET", "/b/k?x-id=PutObject"), ENV, "pk")


class SelfCheck(unittest.TestCase):
    """The `test` action's reads: subscriptions, dead letters, alarms by name, the heartbeat."""

    def test_each_read_is_authorized_on_what_it_reads(self):
        pairs = lambda c: [(n[0], n[1]) for n in needs(c)]
        topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
        subs = call("sns", body=f"Action=ListSubscriptionsByTopic&TopicArn={topic}")
        self.assertEqual(pairs(subs), [("sns:ListSubscriptionsByTopic", topic)])
        queue = call("sqs", body={"QueueUrl": f"http://localhost/{ACCOUNT}/dlq"},
                     **{"x-amz-target": "AmazonSQS.GetQueueAttributes"})
        self.assertEqual(pairs(queue), [("sqs:GetQueueAttributes", f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq")])
        cw = lambda op, body: call("monitoring", body=body, **{"x-amz-target": f"GraniteServiceVersion20100801.{op}"})
        self.assertEqual(pairs(cw("DescribeAlarms", {"AlarmNames": ["s-a", "s-b"]})), [
            ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:s-a"),
            ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:s-b")])
        self.assertEqual(pairs(cw("GetMetricStatistics", {})), [("cloudwatch:GetMetricStatistics", "*")])
        with self.assertRaises(mapping.MappingError):
            mapping.map_call(cw("DescribeAlarms", {}), ENV, "pk")
        with self.assertRaises(mapping.MappingError):
            mapping.map_call(cw("PutMetricAlarm", {}), ENV, "pk")


class Others(unittest.TestCase):
    def test_publish_names_the_topic_and_the_gateway_attribute(self):
        body = ("Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At&Message=m"
                "&MessageAttributes.entry.1.Name=gateway&MessageAttributes.entry.1.Value.DataType=String"
                "&MessageAttributes.entry.1.Value.StringValue=lab")
        m = mapping.map_call(call("sns", body=body, **{"content-type": "application/x-www-form-urlencoded"}), ENV, "pk")
        self.assertEqual([(n.action, n.resource, n.gateway) for n in m.needs],
                         [("sns:Publish", f"arn:aws:sns:us-east-1:{ACCOUNT}:t", "lab")])
        self.assertEqual([k.what for k in m.kms], ["sns"])

    def test_invoking_the_configured_snapshot_function_needs_it_configured(self):
        got = needs(call("lambda", target="/2015-03-31/functions/snapshot/invocations"))
        self.assertEqual(got, [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:snapshot", {},
                                "home", "env:CLAWKEEPER_SNAPSHOT_FUNCTION")])

    def test_the_token_is_read_for_the_gateway_that_has_it(self):
        secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:token"
        got = needs(call("secretsmanager", body={"SecretId": secret}, **{"x-amz-target": "secretsmanager.GetSecretValue"}))
        self.assertEqual(got, [("secretsmanager:GetSecretValue", secret, {}, "lab", "gateway:token_secret_arn")])

    def test_an_unknown_service_is_refused_by_name(self):
        with self.assertRaisesRegex(mapping.MappingError, "service sts"):
            mapping.map_call(call("sts", body="Action=GetCallerIdentity"), ENV, "pk")


class Recordings(unittest.TestCase):
    def write(self, *lines):
        d = tempfile.mkdtemp()
        path = pathlib.Path(d) / "control-1-0.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        return pathlib.Path(d)

    PROCESS = json.dumps({"kind": "process", "function": "control", "binary": "control", "env": {}})

    def test_a_line_that_is_not_json_fails_with_its_place(self):
        with self.assertRaisesRegex(recordings.RecordingError, r"control-1-0.jsonl:2: not JSON"):
            recordings.read_dir(self.write(self.PROCESS, '{"kind": "call", "service"'))

    def test_a_recorder_error_fails_the_check(self):
        with self.assertRaisesRegex(recordings.RecordingError, "could not follow"):
            recordings.read_dir(self.write(self.PROCESS, json.dumps({"kind": "error", "message": "bad chunk"})))

    def test_an_unsigned_request_fails_the_check(self):
        line = {"kind": "call", "endpoint": "default", "service": None, "method": "GET", "target": "/",
                "headers": {}, "body_bytes": 0, "status": 200}
        with self.assertRaisesRegex(recordings.RecordingError, "not signed"):
            recordings.read_dir(self.write(self.PROCESS, json.dumps(line)))


if __name__ == "__main__":
    unittest.main()
