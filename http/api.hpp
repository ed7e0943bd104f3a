#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/timespan.hpp>

#include "actormq/actors.hpp"
#include "actormq/cluster.hpp"
#include "auth.hpp"
#include "json_api.hpp"
#include "wire.hpp"

/// The queue API over HTTP: routes to calls, request bodies to plain
/// structs, actor replies to JSON. Nothing here knows sockets or actors'
/// handles.
namespace actormq::http {

/// What a request asks for (its route: see match_route()).
enum class op : uint8_t {
  healthz,        // GET /healthz
  enqueue_compat, // POST /enqueue (the original's reply)
  enqueue,        // POST /queues/{q}/messages
  receive,        // POST /queues/{q}/receive
  ack,            // POST /queues/{q}/ack
  release,        // POST /queues/{q}/release
  extend,         // POST /queues/{q}/extend
  peek,           // GET /queues/{q}/peek?max=n
  put_queue,      // PUT /queues/{q}
  get_queue,      // GET /queues/{q}
  delete_queue,   // DELETE /queues/{q}
  purge,          // POST /queues/{q}/purge
  redrive,        // POST /queues/{q}/redrive
  list_queues,    // GET /queues
  metrics,        // GET /metrics
};

/// One parsed API request.
struct api_call {
  op kind = op::list_queues;
  /// The queue the call is about (empty for list and metrics).
  std::string queue;
  /// enqueue: the messages; `batch` says whether the reply lists ids.
  std::vector<new_message> messages;
  bool batch = false;
  /// receive, peek: how many at most.
  uint32_t max = 1;
  /// receive: long-poll time; negative: the queue's receive_wait.
  caf::timespan wait{-1};
  /// receive, extend: lease time (0: the queue's).
  caf::timespan visibility{0};
  /// release: delay before the messages are ready again.
  caf::timespan delay{0};
  /// ack, release, extend.
  std::vector<std::string> receipts;
  /// put_queue: the attributes the body set (attribute_field bits) and
  /// their values; a PUT changes what it names and keeps the rest.
  uint32_t attribute_fields = 0;
  queue_attributes attributes;
  /// list_queues with access control on: the grants of the caller's token
  /// (it sees only the queues they name); null: every queue.
  std::shared_ptr<const auth::grants> visible;
};

/// Limits the API applies to every call.
struct api_limits {
  /// Attributes of queues created without any.
  queue_attributes defaults;
  /// The largest max_message_bytes a queue may have.
  uint64_t max_message_bytes = 1024 * 1024;
};

/// Where a request's method and path lead, by the one route table.
struct route_match {
  enum class outcome : uint8_t {
    /// A route has this path and method (HEAD takes GET's routes).
    found,
    /// No route has this path: 404.
    no_path,
    /// Routes have this path, none this method: 405 with `allow`.
    no_method,
  };
  outcome result = outcome::no_path;
  /// found: the operation, and the queue it is about: the path's `{q}`
  /// segment (may be invalid), `default` for POST /enqueue.
  op kind = op::healthz;
  std::string queue;
  /// no_method: the methods the path takes, e.g. "GET, HEAD, OPTIONS".
  std::string allow;
};

/// Matches `method` and `path` against the routes. Paths match as Express
/// matches them: literal segments case-insensitively, with or without one
/// trailing slash. OPTIONS (CORS preflight) is not routed: it works on
/// every path.
route_match match_route(verb method, std::string_view path);

/// The grant an operation needs when access control is on; none for
/// healthz (open) and list_queues (any token lists the queues it holds a
/// grant on).
std::optional<auth::action> needed_grant(op kind);

/// `405` for a path that does not take the method, with its Allow header.
reply method_not_allowed_reply(const route_match& m);

/// The rest of a request, as a route's parser sees it.
struct route_input {
  std::string_view query;
  std::string_view content_type;
  std::string_view body;
};

/// Parses a found route's request into its call, or an error reply.
std::variant<api_call, reply> parse_call(const route_match& m,
                                         const route_input& in,
                                         const api_limits& limits);

/// Replies for each operation.
reply enqueue_reply(op kind, bool batch, const std::vector<uint64_t>& ids);
reply leases_reply(const std::vector<lease>& xs, time_point now);
reply messages_reply(const std::vector<message>& xs, time_point now);
reply receipts_reply(const std::vector<std::string>& receipts,
                     const std::vector<caf::error>& results);
reply queue_reply(const queue_info& x);
reply queues_reply(const std::vector<queue_info>& xs);
reply count_reply(std::string_view field, uint64_t n);
reply deleted_reply(const std::string& name);

/// Every queue's counters in Prometheus' text format (labelled with its
/// node if named), and the state of each link to a peer.
reply metrics_reply(const std::vector<queue_info>& xs,
                    const std::vector<link_info>& links);

} // namespace actormq::http
