#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "sigv4.hpp"
#include "sqs.hpp"

// The SQS protocols as plain functions: requests read into calls, results
// and errors written out, signatures checked. No sockets, no actors (the
// SDK tests under tests/sqs drive the real server).

using namespace actormq;
using namespace actormq::http;
using nlohmann::ordered_json;

namespace {

request json_request(const std::string& action, const std::string& body) {
  request r;
  r.method = verb::post;
  r.path = "/";
  r.host = "mq.local:8006";
  r.content_type = "application/x-amz-json-1.0";
  r.amz_target = "AmazonSQS." + action;
  r.body = body;
  return r;
}

request query_request(const std::string& body,
                      const std::string& path = "/") {
  request r;
  r.method = verb::post;
  r.path = path;
  r.host = "mq.local:8006";
  r.content_type = "application/x-www-form-urlencoded; charset=utf-8";
  r.body = body;
  return r;
}

sqs::call parsed(const request& r) {
  auto proto = sqs::detect(r);
  REQUIRE(proto);
  auto x = sqs::parse(r, *proto, "req-1", sqs::settings{}, api_limits{});
  if (auto rep = std::get_if<reply>(&x))
    FAIL(rep->body);
  return std::get<sqs::call>(std::move(x));
}

reply refused(const request& r) {
  auto proto = sqs::detect(r);
  REQUIRE(proto);
  auto x = sqs::parse(r, *proto, "req-1", sqs::settings{}, api_limits{});
  REQUIRE(std::holds_alternative<reply>(x));
  return std::get<reply>(std::move(x));
}

} // namespace

TEST_CASE("SQS requests are told apart from the native API's") {
  CHECK(sqs::detect(json_request("SendMessage", "{}")) == sqs::protocol::json);
  CHECK(sqs::detect(query_request("Action=ListQueues"))
        == sqs::protocol::query);
  CHECK(sqs::detect(query_request("Action=SendMessage", "/000000000000/q"))
        == sqs::protocol::query);
  // The native form enqueue, and a form without Action, are not SQS.
  CHECK_FALSE(sqs::detect(query_request("message=hi", "/enqueue")));
  CHECK_FALSE(sqs::detect(query_request("message=hi")));
  CHECK_FALSE(sqs::detect(query_request("Action=ListQueues", "/queues")));
  auto other = json_request("SendMessage", "{}");
  other.amz_target = "DynamoDB_20120810.PutItem";
  CHECK_FALSE(sqs::detect(other));
  request get;
  get.method = verb::get;
  get.path = "/";
  get.query = "Action=ListQueues&Version=2012-11-05";
  CHECK(sqs::detect(get) == sqs::protocol::query);
}

TEST_CASE("Query's flat parameters read as the JSON protocol's shapes") {
  auto c = parsed(query_request(
    "Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Forders"
    "&SendMessageBatchRequestEntry.2.Id=b"
    "&SendMessageBatchRequestEntry.2.MessageBody=second"
    "&SendMessageBatchRequestEntry.1.Id=a"
    "&SendMessageBatchRequestEntry.1.MessageBody=first+one"
    "&SendMessageBatchRequestEntry.1.DelaySeconds=5"
    "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k"
    "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Binary"
    "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue="
    "AAEC"));
  CHECK(c.act == sqs::action::send_message_batch);
  CHECK(c.queue == "orders");
  REQUIRE(c.entries.size() == 2);
  CHECK(c.entries[0].id == "a");
  CHECK(c.entries[0].msg.data.body == "first one");
  CHECK(c.entries[0].msg.delay == std::chrono::seconds{5});
  REQUIRE(c.entries[0].msg.data.attributes.size() == 1);
  CHECK(c.entries[0].msg.data.attributes[0].value == std::string("\0\1\2", 3));
  CHECK(c.entries[1].id == "b");
  CHECK_FALSE(c.entries[1].failed);
  // A queue URL's path names the queue when QueueUrl does not.
  auto p = parsed(query_request("Action=PurgeQueue", "/000000000000/jobs"));
  CHECK(p.queue == "jobs");
  auto a = parsed(query_request("Action=CreateQueue&QueueName=x"
                                "&Attribute.1.Name=VisibilityTimeout"
                                "&Attribute.1.Value=45&Tag.1.Key=team"
                                "&Tag.1.Value=blue"));
  CHECK(a.attributes.visibility == std::chrono::seconds{45});
  CHECK((a.attribute_fields & attribute_field::visibility) != 0);
  CHECK(a.tags == std::vector<std::pair<std::string, std::string>>{
                    {"team", "blue"}});
  // Created through SQS: SQS's retention of four days.
  CHECK(a.attributes.retention == std::chrono::hours{96});
}

TEST_CASE("SQS's rules refuse bad requests with SQS's codes") {
  auto code_of = [](const reply& r) {
    return nlohmann::json::parse(r.body).at("__type").get<std::string>();
  };
  CHECK(code_of(refused(json_request("Nope", "{}")))
        == "com.amazonaws.sqs#InvalidAction");
  CHECK(code_of(refused(json_request("SendMessage", "[1]")))
        == "com.amazonaws.sqs#SerializationException");
  CHECK(code_of(refused(json_request("SendMessage", "{}")))
        == "com.amazonaws.sqs#MissingParameter");
  CHECK(code_of(refused(json_request("ReceiveMessage",
                                     R"({"QueueUrl":"http://h/0/q",)"
                                     R"("MaxNumberOfMessages":11})")))
        == "com.amazonaws.sqs#InvalidParameterValue");
  CHECK(code_of(refused(json_request("CreateQueue",
                                     R"({"QueueName":"a.fifo"})")))
        == "com.amazonaws.sqs#InvalidParameterValue");
  CHECK(code_of(refused(json_request(
          "CreateQueue", R"({"QueueName":"a","Attributes":{"X":"1"}})")))
        == "com.amazonaws.sqs#InvalidAttributeName");
  CHECK(code_of(refused(json_request(
          "CreateQueue",
          R"({"QueueName":"a","Attributes":{"DelaySeconds":"901"}})")))
        == "com.amazonaws.sqs#InvalidAttributeValue");
  CHECK(code_of(refused(json_request(
          "DeleteMessageBatch",
          R"({"QueueUrl":"http://h/0/q","Entries":[]})")))
        == "com.amazonaws.sqs#EmptyBatchRequest");
  auto r = refused(json_request("Nope", "{}"));
  CHECK(r.status == 400);
  CHECK(r.headers.find("x-amzn-query-error: InvalidAction;Sender\r\n")
        != std::string::npos);
  CHECK(r.headers.find("x-amzn-RequestId: ") != std::string::npos);
  // Query errors are XML, with the Query code.
  auto q = refused(query_request("Action=GetQueueUrl"));
  CHECK(q.content_type == std::string{"text/xml"});
  CHECK(q.body.find("<Code>MissingParameter</Code>") != std::string::npos);
  // Hostile shapes: a plain parameter named as a flattened list or map, an
  // action name that is not UTF-8.
  CHECK(parsed(query_request("Action=ListQueues&AttributeNames=x"
                             "&AttributeName.1=y&Attributes=z"
                             "&Attribute.1.Name=a&Attribute.1.Value=b"))
          .act
        == sqs::action::list_queues);
  auto clash = parsed(query_request(
    "Action=SendMessageBatch&QueueUrl=q&Entries=x"
    "&SendMessageBatchRequestEntry.1.Id=a"
    "&SendMessageBatchRequestEntry.1.MessageBody=b"));
  CHECK(clash.entries.size() == 1);
  auto bad_name = refused(json_request("\xff\xfe", "{}"));
  CHECK(code_of(bad_name) == "com.amazonaws.sqs#InvalidAction");
  CHECK(refused(query_request("Action=ListQueues&%FF=1"))
          .body.find("<Code>InvalidParameterValue</Code>")
        != std::string::npos);
  // An entry that breaks a rule fails alone.
  auto c = parsed(json_request(
    "SendMessageBatch",
    R"({"QueueUrl":"http://h/0/q","Entries":[{"Id":"a","MessageBody":"ok"},)"
    R"({"Id":"b","MessageBody":"\u0001"}]})"));
  CHECK_FALSE(c.entries[0].failed);
  REQUIRE(c.entries[1].failed);
  CHECK(c.entries[1].failed->what == sqs::code::invalid_message_contents);
}

TEST_CASE("results render as JSON and as Query's XML") {
  auto c = parsed(query_request("Action=ReceiveMessage&QueueUrl=q"
                                "&AttributeName.1=All"
                                "&MessageAttributeName.1=color"));
  lease x;
  x.msg.id = 7;
  x.msg.data.body = "a < b & \"c\"\r\n";
  x.msg.data.attributes = {{"color", "String", "red"},
                           {"size", "Number", "3"}};
  x.receipt = "r1";
  auto now = time_point{std::chrono::hours{1}};
  x.msg.enqueued_at = now;
  ordered_json result{{"Messages", {sqs::message_json(c, x, now)}}};
  auto xml = sqs::result_reply(c, result).body;
  CHECK(xml.find("<Body>a &lt; b &amp; &quot;c&quot;&#xD;\n</Body>")
        != std::string::npos);
  CHECK(xml.find("<MessageAttribute><Name>color</Name><Value><StringValue>"
                 "red</StringValue><DataType>String</DataType></Value>"
                 "</MessageAttribute>")
        != std::string::npos);
  // Only the attributes asked for.
  CHECK(xml.find("size") == std::string::npos);
  CHECK(xml.find("<Attribute><Name>ApproximateReceiveCount</Name><Value>0"
                 "</Value></Attribute>")
        != std::string::npos);
  CHECK(xml.find("<RequestId>" + c.request_id + "</RequestId>")
        != std::string::npos);
  // A result-less action still has its Result element in Query.
  auto empty = parsed(query_request("Action=ReceiveMessage&QueueUrl=q"));
  CHECK(sqs::result_reply(empty, ordered_json::object()).body.find(
          "<ReceiveMessageResult></ReceiveMessageResult>")
        != std::string::npos);
  c.proto = sqs::protocol::json;
  auto j = nlohmann::json::parse(sqs::result_reply(c, result).body);
  CHECK(j["Messages"][0]["Body"] == x.msg.data.body);
  CHECK(j["Messages"][0]["MessageAttributes"]["color"]["StringValue"]
        == "red");
}

TEST_CASE("message ids have a UUID's shape") {
  CHECK(sqs::message_id(1) == "00000000-0000-4000-8000-000000000001");
  CHECK(sqs::message_id(0x123456789abcdef0)
        == "12345678-0000-4000-8000-00009abcdef0");
}

TEST_CASE("MD5s are the ones SDKs check") {
  CHECK(sqs::md5_hex("hello") == "5d41402abc4b2a76b9719d911017c592");
  // As tests/sqs/boto3_test.py computes it on its own from SQS's
  // documentation: a Number and a Binary, in name order.
  std::vector<message_attribute> xs{{"n", "Number", "5"},
                                    {"b", "Binary", std::string("\0\1\2", 3)}};
  CHECK(sqs::attributes_md5(xs) == "89a918f0d3ced8d38e0b410c8b650072");
}

TEST_CASE("Signature Version 4: a signature botocore made, then refusals") {
  auto parsed = auth::token_set::parse(
    "AKIDEXAMPLE sigv4:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY *\n"
    "hashed 0000000000000000000000000000000000000000000000000000000000000000"
    " *\n",
    "tokens");
  REQUIRE(std::holds_alternative<std::shared_ptr<const auth::token_set>>(
    parsed));
  auto& tokens = *std::get<0>(parsed);
  // AWS's documented example (IAM ListUsers at 2015-08-30T12:36:00Z) for
  // SQS: the signature is botocore's (Debian's 1.29), whose signer gives
  // AWS's documented signature for the IAM request.
  request r;
  r.method = verb::get;
  r.path = "/";
  r.query = "Action=ListQueues&Version=2012-11-05";
  r.headers = "content-type:application/x-www-form-urlencoded; "
              "charset=utf-8\nhost:sqs.us-east-1.amazonaws.com\n"
              "x-amz-date:20150830T123600Z\n";
  r.authorization =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/"
    "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
    "Signature=979deaff64162e454b0e3bf66df2e4748b1d1f03aa7ef70d959658a276b75f85";
  std::tm tm{};
  tm.tm_year = 115;
  tm.tm_mon = 7;
  tm.tm_mday = 30;
  tm.tm_hour = 12;
  tm.tm_min = 36;
  auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  auto ok = sigv4::verify(tokens, r, at);
  CHECK(ok.token != nullptr);
  auto v = sigv4::verify(tokens, r, at + std::chrono::minutes{16});
  CHECK(v.failure == sqs::code::request_expired);
  auto changed = r;
  changed.query = "Action=ListQueues&Version=2012-11-06";
  CHECK(sigv4::verify(tokens, changed, at).failure
        == sqs::code::signature_does_not_match);
  auto body = r;
  body.body = "x";
  CHECK(sigv4::verify(tokens, body, at).failure
        == sqs::code::signature_does_not_match);
  auto stranger = r;
  stranger.authorization.replace(stranger.authorization.find("AKIDEXAMPLE"),
                                 11, "hashed");
  CHECK(sigv4::verify(tokens, stranger, at).failure
        == sqs::code::invalid_client_token_id);
  auto none = r;
  none.authorization.clear();
  CHECK(sigv4::verify(tokens, none, at).failure
        == sqs::code::missing_authentication_token);
  auto bearer = r;
  bearer.authorization = "Bearer abc";
  CHECK(sigv4::verify(tokens, bearer, at).failure
        == sqs::code::incomplete_signature);
  // SignedHeaders must be in order, once each, present, with host and
  // x-amz-date, and x-amz-target when the request has one; the scope's
  // service is sqs.
  auto with_signed = [&](std::string names) {
    auto x = r;
    auto at_names = x.authorization.find("SignedHeaders=") + 14;
    auto end = x.authorization.find(',', at_names);
    x.authorization.replace(at_names, end - at_names, names);
    return x;
  };
  for (auto names : {"host;content-type;x-amz-date", "content-type;host;host;x-amz-date",
                     "content-type;x-amz-date", "content-type;host",
                     "content-type;host;x-amz-date;x-other", "Host;x-amz-date"}) {
    INFO(names);
    CHECK(sigv4::verify(tokens, with_signed(names), at).failure
          == sqs::code::incomplete_signature);
  }
  auto targeted = r;
  targeted.headers += "x-amz-target:AmazonSQS.PurgeQueue\n";
  CHECK(sigv4::verify(tokens, targeted, at).failure
        == sqs::code::incomplete_signature);
  auto other_service = r;
  other_service.authorization.replace(
    other_service.authorization.find("/sqs/"), 5, "/iam/");
  CHECK(sigv4::verify(tokens, other_service, at).failure
        == sqs::code::incomplete_signature);
  // A sigv4: line is a bearer token too, by its SHA-256.
  CHECK(tokens.identify("Bearer wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
          .token
        != nullptr);
}
