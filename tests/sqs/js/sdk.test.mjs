// ActorMQ's SQS API through the current AWS SDK for JavaScript (the AWS JSON
// 1.0 protocol, with its MD5 checks of bodies on: MD5OfMessageBody and
// MD5OfBody), sqs-producer and sqs-consumer.
// ACTORMQ_BINARY names the binary; each suite runs it in a process of its
// own on a free port.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SQSClient, CreateQueueCommand, GetQueueUrlCommand, ListQueuesCommand,
  DeleteQueueCommand, PurgeQueueCommand, GetQueueAttributesCommand,
  SetQueueAttributesCommand, SendMessageCommand, SendMessageBatchCommand,
  ReceiveMessageCommand, DeleteMessageCommand, DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand, ChangeMessageVisibilityBatchCommand,
  ListDeadLetterSourceQueuesCommand, TagQueueCommand, UntagQueueCommand,
  ListQueueTagsCommand, StartMessageMoveTaskCommand,
  CancelMessageMoveTaskCommand, ListMessageMoveTasksCommand,
  AddPermissionCommand, RemovePermissionCommand,
} from "@aws-sdk/client-sqs";
import { Producer } from "sqs-producer";
import { Consumer } from "sqs-consumer";

const binary = process.env.ACTORMQ_BINARY;
assert.ok(binary, "set ACTORMQ_BINARY to the actormq binary");

class Server {
  constructor(...args) {
    this.dir = mkdtempSync(join(tmpdir(), "actormq-js-"));
    this.args = args;
  }

  async start() {
    const log = join(this.dir, "log");
    const seen = existsSync(log) ? statSync(log).size : 0;
    const { openSync } = await import("node:fs");
    const fd = openSync(log, "a");
    this.proc = spawn(binary, ["--port=0", "--host=127.0.0.1",
      `--data-dir=${join(this.dir, "data")}`, "--consumers=0", ...this.args],
    { stdio: ["ignore", fd, fd] });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      const text = readFileSync(log).subarray(seen).toString();
      const m = [...text.matchAll(/listening on [0-9.]+:([0-9]+)/g)];
      if (m.length) {
        this.port = Number(m[m.length - 1][1]);
        return this;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("actormq did not start: " + readFileSync(log));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async kill() {
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGKILL");
    await gone;
  }

  async stop() {
    if (this.proc.exitCode === null) {
      const gone = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function client(server, accessKeyId = "test", secretAccessKey = "test") {
  return new SQSClient({
    endpoint: server.url, region: "us-east-1", maxAttempts: 1,
    credentials: { accessKeyId, secretAccessKey },
  });
}

async function refused(promise, name) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    assert.ok(err.$metadata.requestId, "a RequestId");
    return true;
  });
}

describe("the AWS JSON protocol", () => {
  let server;
  let sqs;
  before(async () => {
    server = await new Server().start();
    sqs = client(server);
  });
  after(async () => {
    sqs.destroy();
    await server.stop();
  });

  const make = async (QueueName, Attributes = {}) =>
    (await sqs.send(new CreateQueueCommand({ QueueName, Attributes }))).QueueUrl;

  test("queues: create, find, list, change, purge, delete", async () => {
    const url = await make("js-life", { VisibilityTimeout: "9" });
    assert.equal(url, `${server.url}/000000000000/js-life`);
    assert.equal((await sqs.send(new GetQueueUrlCommand({ QueueName: "js-life" }))).QueueUrl, url);
    await refused(sqs.send(new CreateQueueCommand({ QueueName: "js-life", Attributes: { VisibilityTimeout: "10" } })), "QueueNameExists");
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "js-l" }));
    assert.deepEqual(listed.QueueUrls, [url]);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { DelaySeconds: "1" } }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
    assert.equal(attrs.Attributes.DelaySeconds, "1");
    assert.equal(attrs.Attributes.VisibilityTimeout, "9");
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x" }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    await refused(sqs.send(new GetQueueUrlCommand({ QueueName: "js-life" })), "QueueDoesNotExist");
    await refused(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { DelaySeconds: "2" } })), "QueueDoesNotExist");
    await refused(sqs.send(new CreateQueueCommand({ QueueName: "js-x", Attributes: { Bogus: "1" } })), "InvalidAttributeName");
  });

  test("messages with attributes pass the SDK's MD5 checks of bodies", async () => {
    const url = await make("js-msgs");
    const sent = await sqs.send(new SendMessageCommand({
      QueueUrl: url, MessageBody: "ünïcödé \u{1F680}",
      MessageAttributes: {
        str: { DataType: "String", StringValue: "v" },
        num: { DataType: "Number", StringValue: "-1.5e3" },
        bin: { DataType: "Binary.raw", BinaryValue: new Uint8Array([0, 255, 7]) },
      },
    }));
    assert.ok(sent.MD5OfMessageAttributes);
    const got = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: url, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
    }));
    const m = got.Messages[0];
    assert.equal(m.Body, "ünïcödé \u{1F680}");
    assert.equal(m.MessageId, sent.MessageId);
    assert.deepEqual([...m.MessageAttributes.bin.BinaryValue], [0, 255, 7]);
    assert.equal(m.MessageAttributes.num.StringValue, "-1.5e3");
    assert.equal(m.Attributes.ApproximateReceiveCount, "1");
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    await refused(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: "nonsense" })), "ReceiptHandleIsInvalid");
    await refused(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "\u0000" })), "InvalidMessageContents");
    await refused(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 21 })), "InvalidParameterValue");
  });

  test("batches answer entry by entry", async () => {
    const url = await make("js-batch");
    const r = await sqs.send(new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: "1", MessageBody: "a" },
        { Id: "2", MessageBody: "b", DelaySeconds: 1000 },
        { Id: "3", MessageBody: "c", MessageAttributes: { k: { DataType: "String", StringValue: "v" } } },
      ],
    }));
    assert.deepEqual(r.Successful.map((e) => e.Id).sort(), ["1", "3"]);
    assert.equal(r.Failed[0].Id, "2");
    assert.equal(r.Failed[0].SenderFault, true);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    assert.deepEqual(got.Messages.map((m) => m.Body).sort(), ["a", "c"]);
    const vis = await sqs.send(new ChangeMessageVisibilityBatchCommand({
      QueueUrl: url,
      Entries: got.Messages.map((m, i) => ({ Id: `v${i}`, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: i === 0 ? 0 : 60 })),
    }));
    assert.equal(vis.Successful.length, 2);
    const back = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    assert.equal(back.Messages.length, 1);
    const del = await sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: url,
      Entries: [{ Id: "d1", ReceiptHandle: back.Messages[0].ReceiptHandle }, { Id: "d2", ReceiptHandle: "junk" }],
    }));
    assert.deepEqual(del.Successful.map((e) => e.Id), ["d1"]);
    assert.equal(del.Failed[0].Code, "ReceiptHandleIsInvalid");
    await refused(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [] })), "EmptyBatchRequest");
    await refused(sqs.send(new SendMessageBatchCommand({
      QueueUrl: url, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `${i}`, MessageBody: "m" })),
    })), "TooManyEntriesInBatchRequest");
    await refused(sqs.send(new DeleteMessageBatchCommand({
      QueueUrl: url, Entries: [{ Id: "x", ReceiptHandle: "a" }, { Id: "x", ReceiptHandle: "b" }],
    })), "BatchEntryIdsNotDistinct");
    await refused(sqs.send(new ChangeMessageVisibilityBatchCommand({
      QueueUrl: url, Entries: [{ Id: "bad id!", ReceiptHandle: "a", VisibilityTimeout: 1 }],
    })), "InvalidBatchEntryId");
  });

  test("visibility: a change, and a lease that runs out", async () => {
    const url = await make("js-vis");
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "v" }));
    const m = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 1 }))).Messages[0];
    assert.equal((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages, undefined);
    const again = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }))).Messages[0];
    assert.equal(again.MessageId, m.MessageId);
    assert.equal(again.Attributes.ApproximateReceiveCount, "2");
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 0 }));
    assert.equal((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages.length, 1);
    await refused(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5 })), "MessageNotInflight");
  });

  test("dead letters, their sources and a move task back", async () => {
    const dlq = await make("js-dlq");
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] }))).Attributes.QueueArn;
    const src = await make("js-src", { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 1 }) });
    assert.deepEqual((await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }))).queueUrls, [src]);
    await sqs.send(new SendMessageCommand({ QueueUrl: src, MessageBody: "bad" }));
    const m = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: src }))).Messages[0];
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: src, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    assert.equal((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes.ApproximateNumberOfMessages, "1");
    const task = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn }));
    assert.ok(task.TaskHandle);
    const tasks = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn }));
    assert.equal(tasks.Results[0].Status, "COMPLETED");
    assert.equal(tasks.Results[0].ApproximateNumberOfMessagesMoved, 1);
    await refused(sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: task.TaskHandle })), "UnsupportedOperation");
    await refused(sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: "none" })), "ResourceNotFoundException");
    const home = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: src }))).Messages[0];
    assert.equal(home.Body, "bad");
  });

  test("long polling: a waiting receive gets a message sent meanwhile", async () => {
    const url = await make("js-poll", { ReceiveMessageWaitTimeSeconds: "10" });
    const waiting = sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "now" }));
    const got = await waiting;
    assert.ok(Date.now() - started < 5000);
    assert.equal(got.Messages[0].Body, "now");
  });

  test("FIFO: order within a group, other groups go on, dedup", async () => {
    const url = await make("js-jobs.fifo", { FifoQueue: "true" });
    for (const [body, group, dedup] of [["x1", "X", "1"], ["y1", "Y", "2"], ["x2", "X", "3"], ["x1-again", "X", "1"]]) {
      const r = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: dedup }));
      assert.ok(r.SequenceNumber);
    }
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    assert.equal(first.Messages[0].Body, "x1");
    const second = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    assert.deepEqual(second.Messages.map((m) => m.Body), ["y1"]);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages[0].ReceiptHandle }));
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    assert.deepEqual(third.Messages.map((m) => m.Body), ["x2"]);
    await refused(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "late", MessageGroupId: "X", MessageDeduplicationId: "9", DelaySeconds: 5 })), "InvalidParameterValue");
    // A batch entry the FIFO queue refuses fails alone; the others are sent.
    const batch = await sqs.send(new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: "ok1", MessageBody: "z1", MessageGroupId: "Z", MessageDeduplicationId: "z1" },
        { Id: "nogroup", MessageBody: "z?", MessageDeduplicationId: "z?" },
        { Id: "ok2", MessageBody: "z2", MessageGroupId: "Z", MessageDeduplicationId: "z2" },
      ],
    }));
    assert.deepEqual(batch.Successful.map((e) => e.Id).sort(), ["ok1", "ok2"]);
    assert.deepEqual(batch.Failed.map((e) => [e.Id, e.Code]), [["nogroup", "MissingParameter"]]);
    const zs = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    assert.deepEqual(zs.Messages.map((m) => m.Body), ["z1", "z2"]);
  });

  test("tags and permissions", async () => {
    const url = await make("js-tags");
    await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { a: "1", b: "2" } }));
    await sqs.send(new UntagQueueCommand({ QueueUrl: url, TagKeys: ["a"] }));
    assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags, { b: "2" });
    await sqs.send(new AddPermissionCommand({ QueueUrl: url, Label: "l", AWSAccountIds: ["111122223333"], Actions: ["SendMessage"] }));
    await sqs.send(new RemovePermissionCommand({ QueueUrl: url, Label: "l" }));
  });

  test("an action SQS does not have", async () => {
    const res = await fetch(server.url + "/", {
      method: "POST",
      headers: { "X-Amz-Target": "AmazonSQS.Frobnicate", "Content-Type": "application/x-amz-json-1.0" },
      body: "{}",
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get("x-amzn-query-error"), /^InvalidAction;Sender$/);
    assert.ok(res.headers.get("x-amzn-requestid"));
    assert.equal((await res.json()).__type, "com.amazonaws.sqs#InvalidAction");
  });

  test("sqs-producer and sqs-consumer move every message once", async () => {
    const url = await make("js-pc");
    const producer = Producer.create({ queueUrl: url, sqs });
    const bodies = Array.from({ length: 25 }, (_, i) => `job-${i}`);
    await producer.send(bodies.map((body, i) => ({ id: `m${i}`, body })));
    const seen = [];
    await new Promise((resolve, reject) => {
      const consumer = Consumer.create({
        queueUrl: url, sqs, batchSize: 10, waitTimeSeconds: 1,
        handleMessage: async (m) => {
          seen.push(m.Body);
          if (seen.length === bodies.length) {
            consumer.stop();
            resolve();
          }
          return m;
        },
      });
      consumer.on("error", reject);
      consumer.on("processing_error", reject);
      consumer.start();
    });
    assert.deepEqual(seen.sort(), [...bodies].sort());
    // Every one was deleted after its handler.
    await new Promise((r) => setTimeout(r, 500));
    const left = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
    assert.equal(left.Attributes.ApproximateNumberOfMessages, "0");
    assert.equal(left.Attributes.ApproximateNumberOfMessagesNotVisible, "0");
  });
});

describe("after SIGKILL", () => {
  test("acknowledged sends survive with their attributes", async () => {
    const server = await new Server().start();
    try {
      let sqs = client(server);
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: "js-keep" }))).QueueUrl;
      await sqs.send(new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: Array.from({ length: 10 }, (_, i) => ({
          Id: `${i}`, MessageBody: `keep-${i}`,
          MessageAttributes: { i: { DataType: "Number", StringValue: `${i}` } },
          MessageSystemAttributes: { AWSTraceHeader: { DataType: "String", StringValue: `Root=1-${i}` } },
        })),
      }));
      sqs.destroy();
      await server.kill();
      await server.start();
      sqs = client(server);
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["AWSTraceHeader"] }));
      assert.deepEqual(got.Messages.map((m) => m.Body).sort(), Array.from({ length: 10 }, (_, i) => `keep-${i}`).sort());
      for (const m of got.Messages) {
        assert.equal(`keep-${m.MessageAttributes.i.StringValue}`, m.Body);
        assert.equal(`keep-${m.Attributes.AWSTraceHeader.slice(7)}`, m.Body);
      }
      sqs.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe("Signature Version 4", () => {
  let server;
  let auth;
  before(async () => {
    auth = join(mkdtempSync(join(tmpdir(), "actormq-auth-")), "tokens");
    writeFileSync(auth, "carol sigv4:carol-secret send:js-* receive:js-* manage:js-*\n");
    server = await new Server(`--auth-file=${auth}`).start();
  });
  after(async () => {
    await server.stop();
    rmSync(auth, { force: true });
  });

  test("a request signed with the token is served", async () => {
    const sqs = client(server, "carol", "carol-secret");
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: "js-signed" }))).QueueUrl;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "signed" }));
    const m = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MessageSystemAttributeNames: ["SenderId"] }))).Messages[0];
    assert.equal(m.Body, "signed");
    assert.equal(m.Attributes.SenderId, "carol");
    sqs.destroy();
  });

  test("a wrong secret, an unknown key and a missing grant are refused", async () => {
    await refused(client(server, "carol", "nope").send(new ListQueuesCommand({})), "SignatureDoesNotMatch");
    await refused(client(server, "dave", "x").send(new ListQueuesCommand({})), "InvalidClientTokenId");
    await refused(client(server, "carol", "carol-secret").send(new CreateQueueCommand({ QueueName: "other" })), "AccessDenied");
  });
});
