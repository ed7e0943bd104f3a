// libFuzzer target: arbitrary bytes as an SQS request of every action, in
// both protocols (an AWS JSON body; a Query form body and query string),
// and as the Authorization header and headers of a signed request. Parsing
// must never crash and always ends in a call or an error reply in the
// request's protocol; a call's result renders in both protocols.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "auth.hpp"
#include "sigv4.hpp"
#include "sqs.hpp"

namespace {

using namespace actormq;
using namespace actormq::http;

constexpr const char* actions[] = {
  "CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue", "PurgeQueue",
  "GetQueueAttributes", "SetQueueAttributes", "SendMessage",
  "SendMessageBatch", "ReceiveMessage", "DeleteMessage",
  "DeleteMessageBatch", "ChangeMessageVisibility",
  "ChangeMessageVisibilityBatch", "ListDeadLetterSourceQueues", "TagQueue",
  "UntagQueue", "ListQueueTags", "StartMessageMoveTask",
  "CancelMessageMoveTask", "ListMessageMoveTasks", "AddPermission",
  "RemovePermission", "Unknown"};

void parse_one(const request& r) {
  auto proto = sqs::detect(r);
  if (!proto)
    return;
  auto x = sqs::parse(r, *proto, "req-1", sqs::settings{}, api_limits{});
  if (x.valueless_by_exception())
    std::abort();
  if (auto c = std::get_if<sqs::call>(&x)) {
    sqs::result_reply(*c, nlohmann::ordered_json::object());
    c->proto = *proto == sqs::protocol::json ? sqs::protocol::query
                                             : sqs::protocol::json;
    sqs::result_reply(*c, nlohmann::ordered_json::object());
  } else if (std::get<reply>(x).status < 400) {
    std::abort();
  }
}

const auth::token_set& tokens() {
  static auto set = std::get<0>(
    auth::token_set::parse("AKID sigv4:secret *\n", "tokens"));
  return *set;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input{reinterpret_cast<const char*>(data), size};
  request r;
  r.method = verb::post;
  r.path = "/";
  r.host = "h";
  r.content_type = "application/x-amz-json-1.0";
  r.body = input;
  for (auto a : actions) {
    r.amz_target = std::string{"AmazonSQS."} + a;
    parse_one(r);
  }
  // An action name of any bytes.
  r.amz_target = "AmazonSQS." + input.substr(0, 32);
  parse_one(r);
  r.amz_target.clear();
  r.content_type = "application/x-www-form-urlencoded";
  parse_one(r);
  r.body = "Action=SendMessageBatch&" + input;
  r.path = "/000000000000/q";
  parse_one(r);
  r.body.clear();
  r.method = verb::get;
  r.query = input;
  parse_one(r);
  request s;
  s.method = verb::post;
  s.path = "/";
  s.authorization = input;
  s.headers = "x-amz-date:20240101T000000Z\n" + input;
  s.body = input;
  auto v = sigv4::verify(tokens(), s, std::chrono::system_clock::now());
  if (v.token && v.message.size() > 0)
    std::abort();
  return 0;
}
