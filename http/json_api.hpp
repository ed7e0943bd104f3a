#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <caf/error.hpp>
#include <nlohmann/json_fwd.hpp>

#include "actormq/message.hpp"

/// The JSON side of the REST API: request bodies in, reply bodies out, and
/// the one table that maps every error to a status code and a text. Nothing
/// here knows Pistache or actors.
namespace actormq::http {

/// The closed list of errors a client can get.
enum class problem : uint8_t {
  /// 400: no message, or null, or "".
  message_required,
  /// 413: the message is over --max-message-bytes.
  message_too_large,
  /// 429: the queue holds max_depth messages (with Retry-After).
  queue_full,
  /// 400: a receipt that no queue handed out.
  invalid_receipt,
  /// 409: the receipt's lease is over.
  stale_receipt,
  /// 400: a queue name outside 1-80 of [A-Za-z0-9_.-].
  invalid_queue_name,
  /// 404: no queue has this name.
  unknown_queue,
  /// 400: attributes that cannot work together.
  invalid_attributes,
  /// 503: all queues together hold --max-memory-bytes (with Retry-After).
  out_of_memory,
  /// 507: the store failed to write or sync; the change is not durable.
  storage_failed,
  /// 400: a message to a FIFO queue without a group.
  group_required,
  /// 400: a message to a FIFO queue with its own delay or priority.
  fifo_forbids,
  /// 409: a change of `fifo` on an existing queue.
  fifo_fixed,
  /// 400: a message with more than max_message_attributes attributes.
  too_many_attributes,
  /// 503: the node that owns the queue is unreachable (with Retry-After).
  node_unreachable,
  /// 503: too many requests are on their way to the queue's node (with
  /// Retry-After).
  node_busy,
  /// 400: the body is not JSON.
  malformed_json,
  /// 400: the body is not UTF-8.
  invalid_utf8,
  /// 400: the JSON body is not an object.
  not_an_object,
  /// 400: the JSON body nests arrays and objects deeper than
  /// max_json_depth.
  too_deep,
  /// 400: the form body has a bad %-escape.
  malformed_form,
  /// 415: neither JSON nor a form.
  unsupported_media_type,
  /// 400: the request line or a header cannot be read.
  malformed_request,
  /// 431 / 413: the request is over the size the server reads.
  request_too_large,
  /// 400: an HTTP/1.1 request without exactly one valid Host header.
  invalid_host,
  /// 405: the route does not take the method (with Allow).
  method_not_allowed,
  /// 414: the request line is over --max-header-bytes.
  target_too_long,
  /// 501: a method the server implements for no route.
  not_implemented,
  /// 505: an HTTP version other than 1.x.
  version_not_supported,
  /// 503: the queue cannot be reached (e.g. while shutting down) or did
  /// not answer within the frontend's backstop timeout.
  unavailable,
  /// 408: the request did not arrive within --header-timeout or
  /// --request-timeout; the connection closes.
  request_timeout,
  /// 503: the server holds --max-connections; the connection closes.
  too_many_connections,
  /// 401: access control is on and the request carries no bearer token
  /// (with WWW-Authenticate).
  token_required,
  /// 401: the bearer token is none of the auth file's (with
  /// WWW-Authenticate, error="invalid_token").
  invalid_token,
  /// 500: a bug; details go to the log, never to the client.
  internal_error,
};

/// The deepest nesting of arrays and objects a JSON body may have (the
/// body object is the first level). Checked while parsing: nothing ever
/// walks a deeper value.
constexpr int max_json_depth = 64;

/// A status code and a JSON body.
struct reply {
  /// The HTTP status code.
  uint16_t status;
  /// The JSON body.
  std::string body;
  /// Extra header lines, each ending in CRLF (e.g. Retry-After).
  std::string headers = {};
  /// The media type of `body`.
  const char* content_type = "application/json; charset=utf-8";
};

/// Returns the status and `{"error": "..."}` body of `x`.
reply problem_reply(problem x);

/// `400 {"error": "<field> <rule>"}`: a request field out of its rules.
reply invalid_field_reply(std::string_view field, std::string_view rule);

/// `403`: the request's token holds no grant for `action` (send, receive,
/// manage, metrics) on `queue` (empty for metrics).
reply forbidden_reply(std::string_view action, std::string_view queue);

/// Maps an error from an actor to the problem a client sees.
problem to_problem(const caf::error& x);

/// `200 {"success":"Message enqueued","id":N}`.
reply enqueued_reply(uint64_t id);

/// `200 {"data":"ok"}`.
reply healthy_reply();

/// 503 while the store fails to write.
reply storage_failing_reply();

/// `404 {"data":"Not Found"}`.
reply not_found_reply();

/// Reads the body of `POST /enqueue`: JSON `{"message": ...}` or a form
/// `message=...`, chosen by `content_type` (the raw header, may be empty).
std::variant<payload, problem> parse_enqueue(std::string_view content_type,
                                             std::string_view body);

/// Reads the `message` field of a JSON object: text stays text, other
/// values become compact JSON; missing or null is message_required.
std::variant<payload, problem> to_payload(const nlohmann::json& object);

/// Parses `body` as a JSON object (checking UTF-8 first) of at most
/// max_json_depth levels.
std::variant<nlohmann::json, problem> parse_object(std::string_view body);

/// Returns whether `x` is well-formed UTF-8.
bool valid_utf8(std::string_view x);

} // namespace actormq::http
