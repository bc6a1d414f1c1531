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

    def test_describe_services_of_several_gateways_is_one_authorization_per_service(self):
        got = needs(ecs("DescribeServices", {"cluster": "openclaw", "services": ["openclaw-gateway", "gw-7",
                                                                                 f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/openclaw/gw-8"]}))
        service = lambda name: f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/openclaw/{name}"  # noqa: E731
        # gw-7 and gw-8 are registered at run time: no seed gateway (the stack is resolved with the seed's names).
        self.assertEqual([(a, r, g) for a, r, _, g, _ in got], [("ecs:DescribeServices", service("openclaw-gateway"), "home"),
                                                                ("ecs:DescribeServices", service("gw-7"), None),
                                                                ("ecs:DescribeServices", service("gw-8"), None)])

    def test_listing_the_whole_cluster_is_authorized_on_star_with_the_cluster(self):
        got = needs(ecs("ListTasks", {"cluster": "openclaw", "desiredStatus": "RUNNING"}))
        self.assertEqual(got, [("ecs:ListTasks", "*", {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/openclaw"},
                                "home", None)])

    def test_describe_tasks_of_the_fleet_is_one_authorization_per_task(self):
        tasks = [f"t{i}" for i in range(100)]
        got = needs(ecs("DescribeTasks", {"cluster": "openclaw", "tasks": tasks}))
        self.assertEqual([r for _, r, *_ in got], [f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/openclaw/{t}" for t in tasks])

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

    def test_a_batch_read_is_one_authorization_with_every_keys_partition(self):
        key = lambda pk, sk: {"pk": {"S": pk}, "sk": {"S": sk}}  # noqa: E731
        table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
        fleet = {"RequestItems": {"t": {"Keys": [key("GW#home", "STATE"), key("GW#home", "SNAPSHOT"),
                                                 key("GW#gw-7", "STATE"), key("GW#gw-7", "SNAPSHOT")]}}}
        self.assertEqual(needs(ddb("BatchGetItem", fleet)),
                         [("dynamodb:BatchGetItem", table, {"dynamodb:LeadingKeys": ("GW#gw-7", "GW#home")}, None, None)])
        one = {"RequestItems": {"t": {"Keys": [key("GW#home", "STATE"), key("GW#home", "SNAPSHOT")],
                                      "ProjectionExpression": "pk, sk, #s"}}}
        self.assertEqual(needs(ddb("BatchGetItem", one)),
                         [("dynamodb:BatchGetItem", table, {"dynamodb:LeadingKeys": ("GW#home",)}, "home", None)])

    def test_the_registry_is_read_and_written_in_its_own_partition(self):
        table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
        registry = {"dynamodb:LeadingKeys": ("REGISTRY",)}
        query = {"TableName": "t", "KeyConditionExpression": "pk = :pk AND begins_with(sk, :gw)",
                 "ExpressionAttributeValues": {":pk": {"S": "REGISTRY"}, ":gw": {"S": "GW#"}}}
        self.assertEqual(needs(ddb("Query", query)), [("dynamodb:Query", table, registry, None, None)])
        item = {"pk": {"S": "REGISTRY"}, "sk": {"S": "GW#gw-7"}, "gateway": {"S": "{}"}, "owner_email": {"S": "o@example.com"}}
        self.assertEqual(needs(ddb("PutItem", {"TableName": "t", "Item": item})), [("dynamodb:PutItem", table, registry, None, None)])
        owner = {"pk": {"S": "REGISTRY"}, "sk": {"S": "OWNER#o@example.com"}}
        self.assertEqual(needs(ddb("DeleteItem", {"TableName": "t", "Key": owner})),
                         [("dynamodb:DeleteItem", table, registry, None, None)])

    def test_a_registered_gateways_items_resolve_to_the_seed(self):
        got = needs(ddb("GetItem", {"TableName": "t", "Key": {"pk": {"S": "GW#gw-7"}, "sk": {"S": "STATE"}}}))
        self.assertEqual([(k, g) for _, _, k, g, _ in got], [({"dynamodb:LeadingKeys": ("GW#gw-7",)}, None)])
        status = {"pk": {"S": "GW#home"}, "sk": {"S": "SNAPSHOT"}, "newest_key": {"S": "home/snapshots/a.tar.gz"}}
        self.assertEqual([g for *_, g, _ in needs(ddb("PutItem", {"TableName": "t", "Item": status}))], ["home"])

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

    def test_a_registered_gateways_snapshots_resolve_to_the_seed(self):
        (action, resource, _, gateway, _), = needs(call("s3", "GET", "/b/gw-7/snapshots/a.json?x-id=GetObject"))
        self.assertEqual((action, resource, gateway), ("s3:GetObject", "arn:aws:s3:::b/gw-7/snapshots/a.json", None))

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


def sns(form: dict):
    import urllib.parse
    return call("sns", body=urllib.parse.urlencode(form), **{"content-type": "application/x-www-form-urlencoded"})


class OwnerSubscriptions(unittest.TestCase):
    """control's subscriptions of registered gateways' owners (email, filtered on the gateway)."""

    TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"

    def test_subscribe_carries_the_protocol_and_the_endpoint(self):
        got = needs(sns({"Action": "Subscribe", "TopicArn": self.TOPIC, "Protocol": "email", "Endpoint": "o@example.com",
                         "ReturnSubscriptionArn": "true", "Attributes.entry.1.key": "FilterPolicy",
                         "Attributes.entry.1.value": '{"gateway":["gw-7"]}'}))
        self.assertEqual(got, [("sns:Subscribe", self.TOPIC, {"sns:Endpoint": "o@example.com", "sns:Protocol": "email"},
                                None, None)])

    def test_a_subscriptions_changes_are_authorized_on_its_topic(self):
        subscription = f"{self.TOPIC}:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
        for op, extra in [("Unsubscribe", {}),
                          ("SetSubscriptionAttributes", {"AttributeName": "FilterPolicy",
                                                         "AttributeValue": '{"gateway":["gw-7","gw-8"]}'})]:
            with self.subTest(op):
                got = needs(sns({"Action": op, "SubscriptionArn": subscription, **extra}))
                self.assertEqual(got, [(f"sns:{op}", self.TOPIC, {}, None, None)])

    def test_a_pending_confirmation_is_no_subscription_arn(self):
        with self.assertRaisesRegex(mapping.MappingError, "not a subscription ARN"):
            mapping.map_call(sns({"Action": "Unsubscribe", "SubscriptionArn": "pending confirmation"}), ENV, "pk")

    def test_a_notice_of_a_registered_gateway_resolves_to_the_seed(self):
        got = needs(sns({"Action": "Publish", "TopicArn": self.TOPIC, "Message": "m",
                         "MessageAttributes.entry.1.Name": "gateway", "MessageAttributes.entry.1.Value.DataType": "String",
                         "MessageAttributes.entry.1.Value.StringValue": "gw-7"}))
        self.assertEqual(got, [("sns:Publish", self.TOPIC, {}, None, None)])


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

    def test_a_registered_gateways_token_is_read_in_every_mode_that_knows_the_prefix(self):
        prefix = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:clawkeeper/clawkeeper/"
        env = mapping.Env({**ENV.raw, "CLAWKEEPER_TOKEN_SECRET_PREFIX": prefix}, ACCOUNT)
        get = lambda secret: [(n.action, n.resource, n.gateway, n.requires) for n in mapping.map_call(  # noqa: E731
            call("secretsmanager", body={"SecretId": secret}, **{"x-amz-target": "secretsmanager.GetSecretValue"}),
            env, "pk").needs]
        registered = prefix + "gw-7/token-AbC123"
        self.assertEqual(get(registered), [("secretsmanager:GetSecretValue", registered, None,
                                            "env:CLAWKEEPER_TOKEN_SECRET_PREFIX")])
        # The seed's own token stays a created gateway's (CreateGateway modes only).
        seed = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:token"
        self.assertEqual(get(seed), [("secretsmanager:GetSecretValue", seed, "lab", "gateway:token_secret_arn")])
        # Outside the prefix and no seed's: evaluated everywhere (and denied there).
        other = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:elsewhere/token-AbC123"
        self.assertEqual(get(other)[0][3], "env:CLAWKEEPER_TOKEN_SECRET_PREFIX")

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
