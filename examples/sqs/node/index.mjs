// An SQS producer (the AWS SDK for JavaScript) and consumer (sqs-consumer)
// against ActorMQ:
//
//   scripts/run                                   # ActorMQ on :8006
//   cd examples/sqs/node && npm install && npm start
//
// Only the endpoint differs from code written for Amazon SQS. ACTORMQ_URL
// overrides it (default http://localhost:8006); with --auth-file, set
// AWS_ACCESS_KEY_ID to a token's name and AWS_SECRET_ACCESS_KEY to the
// token (a `sigv4:` line of the auth file).
import { SQSClient, CreateQueueCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { Consumer } from "sqs-consumer";

const sqs = new SQSClient({
  endpoint: process.env.ACTORMQ_URL ?? "http://localhost:8006",
  region: "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "any",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "any",
  },
});

const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "example-emails" }));

await sqs.send(new SendMessageBatchCommand({
  QueueUrl,
  Entries: Array.from({ length: 10 }, (_, i) => ({
    Id: `${i}`,
    MessageBody: JSON.stringify({ to: `user${i}@example.com` }),
  })),
}));

let handled = 0;
const consumer = Consumer.create({
  queueUrl: QueueUrl,
  sqs,
  batchSize: 10,
  waitTimeSeconds: 5,
  // The message is deleted once this returns; a throw leaves it for a retry.
  handleMessage: async (message) => {
    console.log("sending email to", JSON.parse(message.Body).to);
    if (++handled === 10) {
      consumer.stop();
      console.log(`all ${handled} emails sent`);
    }
    return message;
  },
});
consumer.on("error", (err) => {
  console.error(err.message);
  process.exitCode = 1;
});
consumer.start();
