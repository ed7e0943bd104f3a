#include "json_api.hpp"

#include <optional>
#include <string>

#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include "actormq/errors.hpp"
#include "text.hpp"

namespace actormq::http {

namespace {

using nlohmann::json;

reply error_body(uint16_t status, std::string_view text) {
  return {status, json{{"error", text}}.dump()};
}

/// Bounds are transient: a client may try again in a second.
reply retry_later(reply r) {
  r.headers = "Retry-After: 1\r\n";
  return r;
}

/// RFC 6750: a 401 names the scheme the client should use.
reply bearer_challenge(reply r, std::string_view error) {
  r.headers = "WWW-Authenticate: Bearer realm=\"actormq\"";
  r.headers += error;
  r.headers += "\r\n";
  return r;
}

bool ends_with_icase(std::string_view x, std::string_view suffix) {
  return x.size() >= suffix.size()
         && iequals(x.substr(x.size() - suffix.size()), suffix);
}

std::variant<payload, problem> from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (auto p = std::get_if<problem>(&doc))
    return *p;
  return to_payload(std::get<json>(doc));
}

std::variant<payload, problem> from_form(std::string_view body) {
  while (!body.empty()) {
    auto field = take_until(body, '&');
    auto eq = field.find('=');
    auto key = percent_decode(field.substr(0, eq), true);
    if (!key)
      return problem::malformed_form;
    if (*key != "message")
      continue;
    auto value = percent_decode(
      eq == std::string_view::npos ? std::string_view{} : field.substr(eq + 1),
      true);
    if (!value)
      return problem::malformed_form;
    if (!valid_utf8(*value))
      return problem::invalid_utf8;
    if (value->empty())
      return problem::message_required;
    return payload{std::move(*value), payload_kind::text};
  }
  return problem::message_required;
}

} // namespace

reply problem_reply(problem x) {
  switch (x) {
    case problem::message_required:
      return error_body(400, "Message is required");
    case problem::message_too_large:
      return error_body(413, "Message is larger than the server's limit "
                             "(--max-message-bytes)");
    case problem::queue_full:
      return retry_later(
        error_body(429, "Queue is full (max_depth); retry later"));
    case problem::invalid_queue_name:
      return error_body(400, "Queue names are 1-80 characters of "
                             "A-Z, a-z, 0-9, '_', '.' and '-'");
    case problem::unknown_queue:
      return error_body(404, "No queue has this name");
    case problem::invalid_attributes:
      return error_body(400, "A queue cannot be its own dead-letter queue");
    case problem::out_of_memory:
      return retry_later(error_body(503, "Server is at its memory bound "
                                         "(--max-memory-bytes); retry later"));
    case problem::storage_failed:
      return error_body(507, "The change could not be saved (storage is "
                             "failing); retry later");
    case problem::group_required:
      return error_body(400, "A message to a FIFO queue needs a group");
    case problem::fifo_forbids:
      return error_body(400, "A FIFO queue takes no delay_seconds or "
                             "priority per message; set the queue's "
                             "delay_seconds instead");
    case problem::too_many_attributes:
      return error_body(400, "A message has at most "
                               + std::to_string(max_message_attributes)
                               + " attributes");
    case problem::node_unreachable:
      return retry_later(error_body(503, "The node that owns this queue is "
                                         "unreachable; retry later"));
    case problem::node_busy:
      return retry_later(error_body(503, "Too many requests are on their "
                                         "way to the node that owns this "
                                         "queue; retry later"));
    case problem::fifo_fixed:
      return error_body(409, "fifo is chosen when a queue is created and "
                             "cannot change; create another queue");
    case problem::invalid_receipt:
      return error_body(400, "Receipt is malformed; use one from a receive");
    case problem::stale_receipt:
      return error_body(409, "Lease is over (expired, released or acked); "
                             "the message may be with another receiver");
    case problem::malformed_json:
      return error_body(400, "Body is not valid JSON; send an object such "
                             "as {\"message\": \"hello\"}");
    case problem::invalid_utf8:
      return error_body(400, "Body is not valid UTF-8");
    case problem::not_an_object:
      return error_body(400, "Body must be a JSON object such as "
                             "{\"message\": \"hello\"}");
    case problem::too_deep:
      return error_body(400, "Body nests arrays and objects deeper than "
                               + std::to_string(max_json_depth)
                               + " levels");
    case problem::malformed_form:
      return error_body(400, "Form body has a malformed %-escape");
    case problem::unsupported_media_type:
      return error_body(415, "Content-Type must be application/json or "
                             "application/x-www-form-urlencoded");
    case problem::malformed_request:
      return error_body(400, "Malformed HTTP request");
    case problem::request_too_large:
      return error_body(431, "Request headers are too large");
    case problem::invalid_host:
      return error_body(400, "HTTP/1.1 requests need exactly one Host "
                             "header with a valid host");
    case problem::method_not_allowed:
      return error_body(405, "Method is not allowed on this route; the "
                             "Allow header lists those that are");
    case problem::target_too_long:
      return error_body(414, "Request target is too long "
                             "(--max-header-bytes)");
    case problem::not_implemented:
      return error_body(501, "Method is not implemented; use GET, HEAD, "
                             "POST, PUT, DELETE or OPTIONS");
    case problem::version_not_supported:
      return error_body(505, "HTTP version is not supported; use HTTP/1.1");
    case problem::unavailable:
      return retry_later(error_body(503, "Queue is unavailable; retry later"));
    case problem::request_timeout:
      return error_body(408, "Request did not arrive in time "
                             "(--header-timeout, --request-timeout)");
    case problem::too_many_connections:
      return retry_later(error_body(503, "Server is at its connection limit "
                                         "(--max-connections); retry later"));
    case problem::token_required:
      return bearer_challenge(
        error_body(401, "A token is required: send Authorization: Bearer "
                        "<token>"),
        "");
    case problem::invalid_token:
      return bearer_challenge(
        error_body(401, "The token is not valid (not in the server's auth "
                        "file)"),
        ", error=\"invalid_token\"");
    case problem::internal_error:
      break;
  }
  return error_body(500, "Internal server error");
}

reply invalid_field_reply(std::string_view field, std::string_view rule) {
  std::string text{field};
  text += ' ';
  text += rule;
  return error_body(400, text);
}

reply forbidden_reply(std::string_view action, std::string_view queue) {
  std::string text = "The token holds no ";
  text += action;
  text += " grant";
  if (!queue.empty()) {
    text += " for queue '";
    text += queue;
    text += "' (";
    text += action;
    text += ":GLOB with a GLOB that matches it, or *)";
  } else {
    text += " (";
    text += action;
    text += ", or *)";
  }
  return error_body(403, text);
}

problem to_problem(const caf::error& x) {
  ec code;
  if (is_actormq_error(x, code)) {
    switch (code) {
      case ec::message_required:
        return problem::message_required;
      case ec::message_too_large:
        return problem::message_too_large;
      case ec::queue_full:
        return problem::queue_full;
      case ec::invalid_receipt:
        return problem::invalid_receipt;
      case ec::stale_receipt:
        return problem::stale_receipt;
      case ec::invalid_queue_name:
        return problem::invalid_queue_name;
      case ec::unknown_queue:
        return problem::unknown_queue;
      case ec::invalid_attributes:
        return problem::invalid_attributes;
      case ec::out_of_memory:
        return problem::out_of_memory;
      case ec::storage_failed:
        return problem::storage_failed;
      case ec::group_required:
        return problem::group_required;
      case ec::fifo_forbids:
        return problem::fifo_forbids;
      case ec::fifo_fixed:
        return problem::fifo_fixed;
      case ec::too_many_attributes:
        return problem::too_many_attributes;
      case ec::node_unreachable:
        return problem::node_unreachable;
      case ec::node_busy:
        return problem::node_busy;
    }
    return problem::internal_error;
  }
  // An actor that is gone (the server is stopping) or did not answer in
  // time is transient; anything else is a bug.
  if (x == caf::sec::request_receiver_down || x == caf::sec::request_timeout)
    return problem::unavailable;
  return problem::internal_error;
}

reply enqueued_reply(uint64_t id) {
  return {200,
          nlohmann::ordered_json{{"success", "Message enqueued"}, {"id", id}}
            .dump()};
}

reply healthy_reply() {
  return {200, R"({"data":"ok"})"};
}

reply storage_failing_reply() {
  return error_body(503, "Storage is failing (see the server log); writes "
                         "answer 507 until it recovers");
}

reply not_found_reply() {
  return {404, R"({"data":"Not Found"})"};
}

std::variant<payload, problem> parse_enqueue(std::string_view content_type,
                                             std::string_view body) {
  auto media = trim(content_type.substr(0, content_type.find(';')));
  if (iequals(media, "application/json") || ends_with_icase(media, "+json"))
    return from_json(body);
  if (iequals(media, "application/x-www-form-urlencoded"))
    return from_form(body);
  // Like Express, a request without a body carries no message at all.
  if (media.empty() && body.empty())
    return problem::message_required;
  return problem::unsupported_media_type;
}

std::variant<payload, problem> to_payload(const nlohmann::json& object) {
  auto i = object.find("message");
  if (i == object.end() || i->is_null())
    return problem::message_required;
  if (i->is_string())
    return payload{i->get<std::string>(), payload_kind::text};
  return payload{i->dump(), payload_kind::json};
}

std::variant<nlohmann::json, problem> parse_object(std::string_view body) {
  if (!valid_utf8(body))
    return problem::invalid_utf8;
  // The parser is iterative; what may recurse (dump, the fields' walks)
  // only ever sees values this callback let through.
  auto too_deep = false;
  auto doc = json::parse(
    body,
    [&](int depth, json::parse_event_t event, json&) {
      if ((event == json::parse_event_t::object_start
           || event == json::parse_event_t::array_start)
          && depth >= max_json_depth) {
        too_deep = true;
        return false;
      }
      return true;
    },
    false);
  if (too_deep)
    return problem::too_deep;
  if (doc.is_discarded())
    return problem::malformed_json;
  if (!doc.is_object())
    return problem::not_an_object;
  return doc;
}

bool valid_utf8(std::string_view x) {
  return each_code_point(x, [](uint32_t) { return true; });
}

} // namespace actormq::http
