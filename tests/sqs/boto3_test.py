"""ActorMQ's SQS API through Debian's boto3 (botocore 1.29: the Query
protocol; it checks no MD5, so these tests check every MD5 against SQS's
documented algorithm, written here on its own) and Debian's AWS CLI.
Usage: boto3_test.py ACTORMQ_BINARY [unittest args]."""

import datetime
import hashlib
import json
import struct
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from actormq_process import Server  # noqa: E402

BINARY = None


def client(server, key="test", secret="test"):
    return boto3.client(
        "sqs", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}))


def md5_of_attributes(attrs):
    """SQS's MD5OfMessageAttributes: by name, each name, type and value
    length-prefixed, with a transport byte (1 text, 2 binary)."""
    out = b""
    for name in sorted(attrs):
        a = attrs[name]
        binary = "BinaryValue" in a
        value = a["BinaryValue"] if binary else a["StringValue"].encode()
        for part in (name.encode(), a["DataType"].encode()):
            out += struct.pack(">I", len(part)) + part
        out += bytes([2 if binary else 1]) + struct.pack(">I", len(value))
        out += value
    return hashlib.md5(out).hexdigest()


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def code_of(err):
    return err.exception.response["Error"]["Code"]


class QueryProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(BINARY)
        cls.sqs = client(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def queue(self, name, **attrs):
        return self.sqs.create_queue(
            QueueName=name,
            Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]

    def test_queue_lifecycle(self):
        url = self.queue("life-1", VisibilityTimeout=7, DelaySeconds=0)
        self.assertEqual(url, self.server.url + "/000000000000/life-1")
        self.assertEqual(self.sqs.get_queue_url(QueueName="life-1")["QueueUrl"], url)
        # The same create again is the same queue; other values are refused.
        self.assertEqual(self.queue("life-1", VisibilityTimeout=7), url)
        with self.assertRaises(ClientError) as e:
            self.queue("life-1", VisibilityTimeout=8)
        self.assertEqual(code_of(e), "QueueAlreadyExists")
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["VisibilityTimeout"], "7")
        self.assertEqual(attrs["MessageRetentionPeriod"], "345600")
        self.assertEqual(attrs["QueueArn"],
                         "arn:aws:sqs:us-east-1:000000000000:life-1")
        self.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "3",
                                      "MessageRetentionPeriod": "120"})
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ReceiveMessageWaitTimeSeconds",
                                          "MessageRetentionPeriod"])
        self.assertEqual(attrs["Attributes"],
                         {"ReceiveMessageWaitTimeSeconds": "3",
                          "MessageRetentionPeriod": "120"})
        with self.assertRaises(ClientError) as e:
            self.sqs.set_queue_attributes(QueueUrl=url,
                                          Attributes={"Nope": "1"})
        self.assertEqual(code_of(e), "InvalidAttributeName")
        with self.assertRaises(ClientError) as e:
            self.sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"DelaySeconds": "901"})
        self.assertEqual(code_of(e), "InvalidAttributeValue")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.purge_queue(QueueUrl=url)
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(attrs["Attributes"]["ApproximateNumberOfMessages"], "0")
        self.sqs.delete_queue(QueueUrl=url)
        with self.assertRaises(ClientError) as e:
            self.sqs.get_queue_url(QueueName="life-1")
        self.assertEqual(code_of(e), "AWS.SimpleQueueService.NonExistentQueue")

    def test_list_queues_pages(self):
        for i in range(5):
            self.queue("page-%d" % i)
        self.queue("other-page")
        urls = self.sqs.list_queues(QueueNamePrefix="page-")["QueueUrls"]
        self.assertEqual([u.rsplit("/", 1)[1] for u in urls],
                         ["page-%d" % i for i in range(5)])
        first = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=2)
        self.assertEqual(len(first["QueueUrls"]), 2)
        names = [u.rsplit("/", 1)[1] for u in first["QueueUrls"]]
        token = first["NextToken"]
        while token:
            more = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=2,
                                        NextToken=token)
            names += [u.rsplit("/", 1)[1] for u in more["QueueUrls"]]
            token = more.get("NextToken")
        self.assertEqual(names, ["page-%d" % i for i in range(5)])

    def test_send_receive_delete_with_attributes(self):
        url = self.queue("msgs-1")
        sent = self.sqs.send_message(
            QueueUrl=url, MessageBody="héllo \U0001F600",
            MessageAttributes={
                "s": {"DataType": "String", "StringValue": "text"},
                "n": {"DataType": "Number.int", "StringValue": "42"},
                "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}})
        self.assertEqual(sent["MD5OfMessageBody"], md5("héllo \U0001F600"))
        self.assertEqual(sent["MD5OfMessageAttributes"], md5_of_attributes({
            "s": {"DataType": "String", "StringValue": "text"},
            "n": {"DataType": "Number.int", "StringValue": "42"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}}))
        got = self.sqs.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"],
            AttributeNames=["All"])["Messages"]
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertRegex(m["MessageId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}"
                                         r"-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(m["MD5OfBody"], md5(m["Body"]))
        self.assertEqual(m["MD5OfMessageAttributes"],
                         sent["MD5OfMessageAttributes"])
        self.assertEqual(m["Body"], "héllo \U0001F600")
        self.assertEqual(m["MessageAttributes"]["b"]["BinaryValue"],
                         b"\x00\x01\xff")
        self.assertEqual(m["MessageAttributes"]["n"],
                         {"StringValue": "42", "DataType": "Number.int"})
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
        sent_ms = int(m["Attributes"]["SentTimestamp"])
        self.assertLess(abs(sent_ms - time.time() * 1000), 60000)
        # Only the attributes asked for, by name and by prefix.
        self.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        again = self.sqs.receive_message(
            QueueUrl=url, MessageAttributeNames=["s"])["Messages"][0]
        self.assertEqual(list(again["MessageAttributes"]), ["s"])
        # The MD5 of what came back: the one attribute asked for.
        self.assertEqual(again["MD5OfMessageAttributes"],
                         md5_of_attributes(again["MessageAttributes"]))
        self.sqs.delete_message(QueueUrl=url,
                                ReceiptHandle=again["ReceiptHandle"])
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        with self.assertRaises(ClientError) as e:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
        self.assertEqual(code_of(e), "ReceiptHandleIsInvalid")

    def test_batches_have_results_per_entry(self):
        url = self.queue("batch-1")
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "bad \x01 char"},
            {"Id": "c", "MessageBody": "three", "DelaySeconds": 0}])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["a", "c"])
        self.assertEqual([(e["Id"], e["Code"], e["SenderFault"])
                          for e in r["Failed"]],
                         [("b", "InvalidMessageContents", True)])
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        self.assertEqual(sorted(m["Body"] for m in got["Messages"]),
                         ["one", "three"])
        handles = [m["ReceiptHandle"] for m in got["Messages"]]
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "x", "ReceiptHandle": handles[0], "VisibilityTimeout": 100},
            {"Id": "y", "ReceiptHandle": "bogus", "VisibilityTimeout": 5}])
        self.assertEqual([e["Id"] for e in r["Successful"]], ["x"])
        self.assertEqual(r["Failed"][0]["Code"], "ReceiptHandleIsInvalid")
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "p", "ReceiptHandle": handles[0]},
            {"Id": "q", "ReceiptHandle": handles[1]}])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), ["p", "q"])
        for entries, code in [
                ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
                ([{"Id": str(i), "MessageBody": "m"} for i in range(11)],
                 "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
                ([{"Id": "d", "MessageBody": "m"}] * 2,
                 "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                ([{"Id": "no spaces", "MessageBody": "m"}],
                 "AWS.SimpleQueueService.InvalidBatchEntryId")]:
            with self.assertRaises(ClientError) as e:
                self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            self.assertEqual(code_of(e), code)

    def test_message_rules(self):
        url = self.queue("rules-1", MaximumMessageSize=1024)
        with self.assertRaises(ClientError) as e:
            self.sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
        self.assertEqual(code_of(e), "MessageTooLong")
        with self.assertRaises(ClientError) as e:
            self.sqs.send_message(QueueUrl=url, MessageBody="\x00")
        self.assertEqual(code_of(e), "InvalidMessageContents")
        with self.assertRaises(ClientError) as e:
            self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
        self.assertEqual(code_of(e), "InvalidParameterValue")
        with self.assertRaises(ClientError) as e:
            self.sqs.send_message(QueueUrl=url, MessageBody="m", DelaySeconds=901)
        self.assertEqual(code_of(e), "InvalidParameterValue")
        with self.assertRaises(ClientError) as e:
            self.sqs.create_queue(QueueName="bad.name")
        self.assertEqual(code_of(e), "InvalidParameterValue")

    def test_delay_and_visibility(self):
        url = self.queue("delay-1")
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        self.assertEqual(
            attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"], "1")
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5,
                                       VisibilityTimeout=30)
        self.assertEqual(got["Messages"][0]["Body"], "later")
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        self.assertEqual(
            attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "1")

    def test_long_poll_wakes_on_send(self):
        url = self.queue("poll-1")
        started = time.monotonic()
        self.assertNotIn("Messages", self.sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=1))
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        result = {}

        def poll():
            result["r"] = client(self.server).receive_message(
                QueueUrl=url, WaitTimeSeconds=10)

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.3)
        started = time.monotonic()
        self.sqs.send_message(QueueUrl=url, MessageBody="wake")
        t.join()
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(result["r"]["Messages"][0]["Body"], "wake")

    def test_dead_letters_and_sources(self):
        dlq = self.queue("dlq-1")
        arn = self.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        src = self.queue("src-1", RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": "1"}))
        policy = json.loads(self.sqs.get_queue_attributes(
            QueueUrl=src, AttributeNames=["RedrivePolicy"])
            ["Attributes"]["RedrivePolicy"])
        self.assertEqual(policy["deadLetterTargetArn"], arn)
        self.assertEqual(int(policy["maxReceiveCount"]), 1)
        self.assertEqual(self.sqs.list_dead_letter_source_queues(
            QueueUrl=dlq)["queueUrls"], [src])
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        m = self.sqs.receive_message(QueueUrl=src)["Messages"][0]
        self.sqs.change_message_visibility(
            QueueUrl=src, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=src))
        dead = self.sqs.receive_message(
            QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
        self.assertEqual(dead["Body"], "poison")
        self.assertEqual(dead["Attributes"]["DeadLetterQueueSourceArn"],
                         "arn:aws:sqs:us-east-1:000000000000:src-1")

    def test_fifo_groups_and_dedup(self):
        url = self.sqs.create_queue(QueueName="orders.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        ids = []
        for body, group in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A")]:
            r = self.sqs.send_message(QueueUrl=url, MessageBody=body,
                                      MessageGroupId=group)
            self.assertIn("SequenceNumber", r)
            ids.append(r["MessageId"])
        # The same body again within five minutes is the same message.
        self.assertEqual(self.sqs.send_message(
            QueueUrl=url, MessageBody="a1", MessageGroupId="A")["MessageId"],
            ids[0])
        with self.assertRaises(ClientError) as e:
            self.sqs.send_message(QueueUrl=url, MessageBody="no group")
        self.assertEqual(code_of(e), "MissingParameter")
        first = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=2,
            AttributeNames=["MessageGroupId", "SequenceNumber"])["Messages"]
        self.assertEqual([m["Body"] for m in first], ["a1", "a2"])
        self.assertEqual(first[0]["Attributes"]["MessageGroupId"], "A")
        # A is in flight: only B comes.
        second = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        self.assertEqual([m["Body"] for m in second["Messages"]], ["b1"])
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        for m in first:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        third = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        self.assertEqual([m["Body"] for m in third["Messages"]], ["a3"])

    def test_fifo_receive_attempt_is_repeated(self):
        url = self.sqs.create_queue(QueueName="attempt.fifo", Attributes={
            "FifoQueue": "true"})["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="m1",
                              MessageGroupId="g", MessageDeduplicationId="1")
        one = self.sqs.receive_message(QueueUrl=url,
                                       ReceiveRequestAttemptId="try-1")
        two = self.sqs.receive_message(QueueUrl=url,
                                       ReceiveRequestAttemptId="try-1")
        self.assertEqual(one["Messages"][0]["ReceiptHandle"],
                         two["Messages"][0]["ReceiptHandle"])

    def test_tags_and_permissions(self):
        url = self.queue("tags-1")
        self.sqs.tag_queue(QueueUrl=url, Tags={"team": "a", "env": "test"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"],
                         {"team": "a"})
        self.sqs.add_permission(QueueUrl=url, Label="l",
                                AWSAccountIds=["111122223333"],
                                Actions=["SendMessage"])
        self.sqs.remove_permission(QueueUrl=url, Label="l")

    def test_unknown_action(self):
        import urllib.request
        req = urllib.request.Request(
            self.server.url + "/", data=b"Action=Frobnicate",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        self.assertEqual(e.exception.code, 400)
        body = e.exception.read().decode()
        self.assertIn("<Code>InvalidAction</Code>", body)
        self.assertIn("<RequestId>", body)

    def test_move_tasks_in_query(self):
        # botocore 1.29 predates the move-task actions: raw Query requests.
        import urllib.request

        def query(body):
            req = urllib.request.Request(
                self.server.url + "/", data=body.encode(), headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
            return urllib.request.urlopen(req).read().decode()

        dlq = self.queue("move-dlq")
        arn = "arn:aws:sqs:us-east-1:000000000000:move-dlq"
        src = self.queue("move-src", RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": 1}))
        self.sqs.send_message(QueueUrl=src, MessageBody="back home")
        m = self.sqs.receive_message(QueueUrl=src)["Messages"][0]
        self.sqs.change_message_visibility(
            QueueUrl=src, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        self.assertEqual(self.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
            ["Attributes"]["ApproximateNumberOfMessages"], "1")
        started = query("Action=StartMessageMoveTask&SourceArn=" + arn)
        self.assertIn("<StartMessageMoveTaskResult><TaskHandle>", started)
        listed = query("Action=ListMessageMoveTasks&SourceArn=" + arn)
        self.assertIn("<ListMessageMoveTasksResultEntry><TaskHandle>", listed)
        self.assertIn("<Status>COMPLETED</Status>", listed)
        self.assertIn("<ApproximateNumberOfMessagesMoved>1<", listed)
        self.assertEqual(self.sqs.receive_message(QueueUrl=src)
                         ["Messages"][0]["Body"], "back home")

    def test_native_and_sqs_share_queues(self):
        import urllib.request
        url = self.queue("shared-1")
        req = urllib.request.Request(
            self.server.url + "/queues/shared-1/messages",
            data=json.dumps({"message": {"k": [1, 2]}}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
        m = self.sqs.receive_message(QueueUrl=url)["Messages"][0]
        self.assertEqual(m["Body"], '{"k":[1,2]}')
        listed = json.loads(urllib.request.urlopen(
            self.server.url + "/queues/shared-1").read())
        self.assertEqual(listed["stats"]["in_flight"], 1)

    def test_aws_cli(self):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   AWS_PAGER="")

        def aws(*args):
            out = subprocess.run(
                ["/usr/bin/aws", "--endpoint-url", self.server.url, "sqs"]
                + list(args), env=env, capture_output=True, check=True)
            return json.loads(out.stdout) if out.stdout.strip() else {}

        url = aws("create-queue", "--queue-name", "cli-1")["QueueUrl"]
        aws("send-message", "--queue-url", url, "--message-body", "from cli",
            "--message-attributes",
            '{"k": {"DataType": "String", "StringValue": "v"}}')
        got = aws("receive-message", "--queue-url", url,
                  "--message-attribute-names", "All")["Messages"][0]
        self.assertEqual(got["Body"], "from cli")
        aws("delete-message", "--queue-url", url, "--receipt-handle",
            got["ReceiptHandle"])
        self.assertIn(url, aws("list-queues")["QueueUrls"])


class Restart(unittest.TestCase):
    def test_sigkill_keeps_messages_and_their_attributes(self):
        server = Server(BINARY)
        try:
            sqs = client(server)
            url = sqs.create_queue(QueueName="keep.fifo", Attributes={
                "FifoQueue": "true", "ContentBasedDeduplication": "true",
                "VisibilityTimeout": "5"})["QueueUrl"]
            sqs.tag_queue(QueueUrl=url, Tags={"k": "v"})
            for i in range(20):
                sent = sqs.send_message(
                    QueueUrl=url, MessageBody="m%d" % i, MessageGroupId="g",
                    MessageAttributes={"i": {"DataType": "Number",
                                             "StringValue": str(i)}},
                    MessageSystemAttributes={"AWSTraceHeader": {
                        "DataType": "String",
                        "StringValue": "Root=1-00000000-%024d" % i}})
                self.assertIn("MD5OfMessageSystemAttributes", sent)
            server.kill()
            server.start()
            sqs = client(server)
            self.assertEqual(sqs.list_queue_tags(QueueUrl=url)["Tags"],
                             {"k": "v"})
            attrs = sqs.get_queue_attributes(QueueUrl=url,
                                             AttributeNames=["All"])
            self.assertEqual(attrs["Attributes"]["FifoQueue"], "true")
            self.assertEqual(attrs["Attributes"]["VisibilityTimeout"], "5")
            bodies = []
            while True:
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10,
                    MessageAttributeNames=["All"],
                    AttributeNames=["All"]).get("Messages", [])
                if not got:
                    break
                for m in got:
                    bodies.append(m["Body"])
                    self.assertEqual(m["MessageAttributes"]["i"]["StringValue"],
                                     m["Body"][1:])
                    self.assertEqual(m["Attributes"]["MessageGroupId"], "g")
                    self.assertEqual(m["Attributes"]["AWSTraceHeader"],
                                     "Root=1-00000000-%024d"
                                     % int(m["Body"][1:]))
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                    for k, m in enumerate(got)])
            self.assertEqual(bodies, ["m%d" % i for i in range(20)])
            # The dedup window survived too.
            again = sqs.send_message(QueueUrl=url, MessageBody="m3",
                                     MessageGroupId="g")
            self.assertEqual(sqs.receive_message(QueueUrl=url).get("Messages"),
                             None, again)
        finally:
            server.stop()


class Signatures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.auth = tempfile.NamedTemporaryFile("w", suffix=".auth", delete=False)
        cls.auth.write("alice sigv4:alice-secret *\n"
                       "bob sigv4:bob-secret send:only-* manage:only-*\n")
        cls.auth.close()
        cls.server = Server(BINARY, "--auth-file=" + cls.auth.name)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        os.unlink(cls.auth.name)

    def test_signed_by_a_token_is_served(self):
        sqs = client(self.server, "alice", "alice-secret")
        url = sqs.create_queue(QueueName="signed-1")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="ok")
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["SenderId"])
        self.assertEqual(got["Messages"][0]["Body"], "ok")
        # The access key id that signed the send.
        self.assertEqual(got["Messages"][0]["Attributes"]["SenderId"], "alice")

    def test_refusals(self):
        with self.assertRaises(ClientError) as e:
            client(self.server, "alice", "wrong").list_queues()
        self.assertEqual(code_of(e), "SignatureDoesNotMatch")
        with self.assertRaises(ClientError) as e:
            client(self.server, "mallory", "x").list_queues()
        self.assertEqual(code_of(e), "InvalidClientTokenId")
        bob = client(self.server, "bob", "bob-secret")
        url = bob.create_queue(QueueName="only-bob")["QueueUrl"]
        bob.send_message(QueueUrl=url, MessageBody="m")
        with self.assertRaises(ClientError) as e:
            bob.receive_message(QueueUrl=url)
        self.assertEqual(code_of(e), "AccessDenied")
        with self.assertRaises(ClientError) as e:
            bob.create_queue(QueueName="not-bobs")
        self.assertEqual(code_of(e), "AccessDenied")
        alice = client(self.server, "alice", "alice-secret")
        alice.create_queue(QueueName="alices")
        names = [u.rsplit("/", 1)[1]
                 for u in bob.list_queues().get("QueueUrls", [])]
        self.assertEqual(names, ["only-bob"])
        # A queue of alice's that dead-letters into bob's: bob does not
        # learn its name.
        alice.create_queue(QueueName="alices-src", Attributes={
            "RedrivePolicy": json.dumps({
                "deadLetterTargetArn":
                    "arn:aws:sqs:us-east-1:000000000000:only-bob",
                "maxReceiveCount": 3})})
        self.assertEqual(bob.list_dead_letter_source_queues(
            QueueUrl=url).get("queueUrls", []), [])
        # A dead-letter queue bob may not send to is refused.
        with self.assertRaises(ClientError) as e:
            bob.create_queue(QueueName="only-dl", Attributes={
                "RedrivePolicy": json.dumps({
                    "deadLetterTargetArn":
                        "arn:aws:sqs:us-east-1:000000000000:alices",
                    "maxReceiveCount": 3})})
        self.assertEqual(code_of(e), "AccessDenied")
        # GetQueueUrl takes any grant on the queue.
        self.assertEqual(bob.get_queue_url(QueueName="only-bob")["QueueUrl"],
                         url)

    def test_unsigned_and_stale_requests(self):
        import urllib.request
        body = b"Action=ListQueues&Version=2012-11-05"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        req = urllib.request.Request(self.server.url + "/", data=body,
                                     headers=headers)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        self.assertEqual(e.exception.code, 403)
        self.assertIn(b"MissingAuthenticationToken", e.exception.read())
        stale = datetime.datetime.utcnow() - datetime.timedelta(minutes=16)
        signed = AWSRequest(method="POST", url=self.server.url + "/",
                            data=body, headers=headers)
        with mock.patch("botocore.auth.datetime") as clock:
            clock.datetime.utcnow.return_value = stale
            SigV4Auth(Credentials("alice", "alice-secret"), "sqs",
                      "us-east-1").add_auth(signed)
        req = urllib.request.Request(self.server.url + "/", data=body,
                                     headers=dict(signed.headers.items()))
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        self.assertIn(b"RequestExpired", e.exception.read())


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    print("boto3", boto3.__version__, "botocore", botocore.__version__)
    unittest.main(verbosity=2)
