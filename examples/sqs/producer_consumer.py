"""An SQS producer and consumer with boto3, against ActorMQ.

    scripts/run                                  # ActorMQ on :8006
    python3 examples/sqs/producer_consumer.py    # Debian: apt install python3-boto3

Only the endpoint differs from code written for Amazon SQS. ACTORMQ_URL
overrides it (default http://localhost:8006); with --auth-file, set
AWS_ACCESS_KEY_ID to a token's name and AWS_SECRET_ACCESS_KEY to the token
(a `sigv4:` line of the auth file)."""

import os

import boto3

sqs = boto3.client(
    "sqs",
    endpoint_url=os.environ.get("ACTORMQ_URL", "http://localhost:8006"),
    region_name="us-east-1",
    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "any"),
    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "any"))

url = sqs.create_queue(QueueName="example-orders",
                       Attributes={"VisibilityTimeout": "30"})["QueueUrl"]

# Produce: ten orders in one batch, each with a typed attribute.
sqs.send_message_batch(QueueUrl=url, Entries=[
    {"Id": str(i), "MessageBody": "order %d" % i,
     "MessageAttributes": {"amount": {"DataType": "Number",
                                      "StringValue": str(10 * i)}}}
    for i in range(10)])

# Consume: long polls until the queue is empty, deleting what was handled.
handled = 0
while handled < 10:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                              WaitTimeSeconds=5,
                              MessageAttributeNames=["All"])
    for m in got.get("Messages", []):
        print("handled %s (amount %s)"
              % (m["Body"], m["MessageAttributes"]["amount"]["StringValue"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += 1
print("all %d orders handled" % handled)
