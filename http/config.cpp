#include "config.hpp"

#include <algorithm>
#include <fstream>

#include <exception>
#include <memory>
#include <utility>

#include <unistd.h>

#include <caf/atom.hpp>
#include <caf/config_option_adder.hpp>

#include "actormq/registry_actor.hpp"

namespace actormq::http {

namespace {

/// The default memory bound: 40% of the machine's memory, as RabbitMQ's
/// default high watermark (0 if the machine does not say).
int64_t default_memory_bound() {
  auto pages = ::sysconf(_SC_PHYS_PAGES);
  auto page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return 0;
  return static_cast<int64_t>(static_cast<double>(pages)
                              * static_cast<double>(page) * 0.4);
}

const settings defaults;

} // namespace

config::config()
  : host_(defaults.host),
    port_(defaults.port),
    consume_interval_(defaults.consume_interval),
    max_message_bytes_(static_cast<int64_t>(defaults.max_message_bytes)),
    data_dir_(defaults.data_dir),
    fsync_("always"),
    fsync_interval_(defaults.fsync_interval),
    log_level_("info"),
    http_threads_(static_cast<int64_t>(defaults.http_threads)),
    max_header_bytes_(static_cast<int64_t>(defaults.max_header_bytes)),
    header_timeout_(defaults.header_timeout),
    request_timeout_(defaults.request_timeout),
    idle_timeout_(defaults.idle_timeout),
    send_timeout_(defaults.send_timeout),
    max_connections_(defaults.max_connections),
    max_memory_bytes_(default_memory_bound()),
    consume_queue_(defaults.consume_queue),
    consume_batch_(defaults.consume_batch),
    consumers_(defaults.consumers) {
  opt_group{custom_options_, "global"}
    .add(host_, "host", "address to listen on (default 0.0.0.0)")
    .add(port_, "port,p", "port to listen on, 0 for any (default 8006)")
    .add(consume_interval_, "consume-interval",
         "time between two consumed messages, e.g. 5s or 500ms")
    .add(max_message_bytes_, "max-message-bytes",
         "largest message accepted, in bytes (default 1048576)")
    .add(data_dir_, "data-dir",
         "directory of the store (default ./data)")
    .add(fsync_, "fsync",
         "always (default): answer once synced to disk; interval: answer "
         "once written, sync every --fsync-interval; none: memory only")
    .add(fsync_interval_, "fsync-interval",
         "time between syncs with --fsync=interval (default 100ms)")
    .add(log_level_, "log-level", "error, warning, info (default) or debug")
    .add(http_threads_, "http-threads", "threads serving HTTP (default 2)")
    .add(max_header_bytes_, "max-header-bytes",
         "largest request line plus headers, in bytes (default 16384)")
    .add(header_timeout_, "header-timeout",
         "time for a request line and headers to arrive (default 10s)")
    .add(request_timeout_, "request-timeout",
         "time for a whole request, body included, to arrive (default 30s)")
    .add(idle_timeout_, "idle-timeout",
         "time a kept-alive connection may wait for a request (default 60s)")
    .add(send_timeout_, "send-timeout",
         "time a client may take no byte of the replies waiting for it; "
         "then its connection is reset (default 30s)")
    .add(max_connections_, "max-connections",
         "connections served at once; more get 503 (default 10000)")
    .add(max_memory_bytes_, "max-memory-bytes",
         "bound on what all queues hold, in bytes; 0 for none (default: "
         "40% of the machine's memory)")
    .add(consume_queue_, "consume-queue",
         "queue the built-in consumer reads (default 'default')")
    .add(consume_batch_, "consume-batch",
         "messages the built-in consumer takes per interval (default 1)")
    .add(consumers_, "consumers",
         "built-in consumers, 0 for none (default 1)")
    .add(auth_file_, "auth-file",
         "file of tokens and their grants: turns access control on; "
         "SIGHUP reads it again")
    .add(new_token_, "new-token",
         "print a new random token named NAME and its auth file line, "
         "then exit")
    .add(tls_cert_, "tls-cert",
         "PEM certificate (chain): the port speaks HTTPS only, TLS 1.2+; "
         "SIGHUP reloads it (default: plain HTTP)")
    .add(tls_key_, "tls-key", "PEM private key of --tls-cert, unencrypted")
    .add(tls_client_ca_, "tls-client-ca",
         "PEM CA certificates: clients must present a certificate one of "
         "them signed (mutual TLS)")
    .add(sqs_base_url_, "sqs-base-url",
         "scheme://host[:port] of SQS queue URLs, e.g. behind a proxy "
         "(default: http:// and the request's Host)")
    .add(sqs_region_, "sqs-region",
         "the region in SQS queue ARNs (default us-east-1)")
    .add(node_name_, "node-name",
         "this node's name, 1-64 of A-Z a-z 0-9 _ . - (shown as the owner "
         "of its queues); with --cluster, one of its members")
    .add(cluster_, "cluster",
         "NAME@HOST:PORT,...: every member of the cluster, the same list on "
         "every node; each listens for its peers on its own entry")
    .add(cluster_ca_, "cluster-ca",
         "PEM CA that signs every member's certificate: links use TLS with "
         "--tls-cert and --tls-key, verified both ways")
    .add(cluster_max_in_flight_, "cluster-max-in-flight",
         "requests forwarded to one other node at most at a time; past it, "
         "503 with Retry-After (default 1024)")
    .add(cluster_protocol_, "cluster-protocol",
         "the cluster protocol version to speak (for tests of mixed "
         "versions; default: this build's)");
  // Two cores serve HTTP; two scheduler threads keep the actors close to
  // them. The sharing policy wakes an idle worker at once instead of letting
  // it sleep-poll: lower latency per request (bench/cycle.sh: 0.14x -> 0.20x
  // of the bare handler for single-message cycles).
  set("scheduler.max-threads", 2);
  set("scheduler.policy", caf::atom("sharing"));
}

std::string config::validate(settings& out) const {
  using namespace std::chrono;
  settings result;
  if (host_.empty())
    return "--host must not be empty";
  result.host = host_;
  if (port_ < 0 || port_ > 65535)
    return "--port must be between 0 and 65535, got " + std::to_string(port_);
  result.port = static_cast<uint16_t>(port_);
  if (consume_interval_ < milliseconds{1})
    return "--consume-interval must be at least 1ms";
  result.consume_interval = consume_interval_;
  if (max_message_bytes_ < 1 || max_message_bytes_ > (int64_t{64} << 20))
    return "--max-message-bytes must be between 1 and 67108864, got "
           + std::to_string(max_message_bytes_);
  result.max_message_bytes = static_cast<size_t>(max_message_bytes_);
  if (data_dir_.empty())
    return "--data-dir must not be empty";
  result.data_dir = data_dir_;
  if (fsync_ == "always") {
    result.fsync = fsync_mode::always;
  } else if (fsync_ == "interval") {
    result.fsync = fsync_mode::interval;
  } else if (fsync_ == "none") {
    result.persistent = false;
  } else {
    return "--fsync must be always, interval or none, got '" + fsync_ + "'";
  }
  if (fsync_interval_ < milliseconds{1} || fsync_interval_ > seconds{60})
    return "--fsync-interval must be between 1ms and 60s";
  result.fsync_interval = fsync_interval_;
  if (!log::parse_level(log_level_, result.log_level))
    return "--log-level must be error, warning, info or debug, got '"
           + log_level_ + "'";
  if (http_threads_ < 1 || http_threads_ > 64)
    return "--http-threads must be between 1 and 64, got "
           + std::to_string(http_threads_);
  result.http_threads = static_cast<size_t>(http_threads_);
  if (max_header_bytes_ < 1024 || max_header_bytes_ > (int64_t{1} << 20))
    return "--max-header-bytes must be between 1024 and 1048576, got "
           + std::to_string(max_header_bytes_);
  result.max_header_bytes = static_cast<size_t>(max_header_bytes_);
  std::pair<const char*, caf::timespan> timeouts[] = {
    {"--header-timeout", header_timeout_},
    {"--request-timeout", request_timeout_},
    {"--idle-timeout", idle_timeout_},
    {"--send-timeout", send_timeout_},
  };
  for (auto [name, value] : timeouts)
    if (value < milliseconds{1} || value > hours{24})
      return std::string{name} + " must be between 1ms and 24h";
  result.header_timeout = header_timeout_;
  result.request_timeout = request_timeout_;
  result.idle_timeout = idle_timeout_;
  result.send_timeout = send_timeout_;
  if (max_connections_ < 1 || max_connections_ > 1000000)
    return "--max-connections must be between 1 and 1000000, got "
           + std::to_string(max_connections_);
  result.max_connections = static_cast<uint32_t>(max_connections_);
  if (max_memory_bytes_ < 0)
    return "--max-memory-bytes must be 0 (no bound) or more, got "
           + std::to_string(max_memory_bytes_);
  result.max_memory_bytes = static_cast<uint64_t>(max_memory_bytes_);
  if (!valid_queue_name(consume_queue_))
    return "--consume-queue must be 1-80 of A-Z a-z 0-9 _ . -, got '"
           + consume_queue_ + "'";
  result.consume_queue = consume_queue_;
  if (consume_batch_ < 1 || consume_batch_ > 100)
    return "--consume-batch must be between 1 and 100, got "
           + std::to_string(consume_batch_);
  result.consume_batch = static_cast<uint32_t>(consume_batch_);
  if (consumers_ < 0 || consumers_ > 64)
    return "--consumers must be between 0 and 64, got "
           + std::to_string(consumers_);
  result.consumers = static_cast<uint32_t>(consumers_);
  if (!new_token_.empty() && !auth::valid_name(new_token_))
    return "--new-token must be a name of 1-64 visible ASCII characters "
           "but '#' (no spaces)";
  result.new_token = new_token_;
  if (!auth_file_.empty()) {
    auto loaded = auth::token_set::load(auth_file_);
    if (auto err = std::get_if<auth::load_error>(&loaded))
      return "--auth-file: " + err->text;
    result.tokens = std::get<0>(std::move(loaded));
  }
  result.auth_file = auth_file_;
  if (!sqs_base_url_.empty()
      && ((sqs_base_url_.rfind("http://", 0) != 0
           && sqs_base_url_.rfind("https://", 0) != 0)
          || sqs_base_url_.back() == '/'
          || sqs_base_url_.find_first_of(" \t\r\n\"<>") != std::string::npos))
    return "--sqs-base-url must be http://HOST[:PORT] or https://HOST[:PORT] "
           "(a path prefix allowed), without a trailing '/'";
  result.sqs.base_url = sqs_base_url_;
  if (sqs_region_.empty() || sqs_region_.size() > 32
      || sqs_region_.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-")
           != std::string::npos)
    return "--sqs-region must be 1-32 of a-z, 0-9 and '-' (e.g. us-east-1)";
  result.sqs.region = sqs_region_;
  if (tls_cert_.empty() != tls_key_.empty())
    return "--tls-cert and --tls-key go together: give both or neither";
  if (!tls_client_ca_.empty() && tls_cert_.empty())
    return "--tls-client-ca needs --tls-cert and --tls-key";
  if (!tls_cert_.empty()) {
    try {
      result.tls = std::make_shared<const tls_context>(
        tls_files{tls_cert_, tls_key_, tls_client_ca_});
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  if (auto msg = validate_cluster(result); !msg.empty())
    return msg;
  out = std::move(result);
  return {};
}

std::string config::validate_cluster(settings& result) const {
  if (!node_name_.empty() && !valid_node_name(node_name_))
    return "--node-name must be 1-64 of A-Z a-z 0-9 _ . -, got '"
           + node_name_ + "'";
  result.node_name = node_name_;
  if (cluster_.empty()) {
    if (!cluster_ca_.empty())
      return "--cluster-ca needs --cluster";
    return {};
  }
  std::string err;
  result.members = parse_members(cluster_, err);
  if (result.members.empty())
    return "--cluster: " + err;
  if (node_name_.empty())
    return "--cluster needs --node-name: which member this node is";
  if (std::none_of(result.members.begin(), result.members.end(),
                   [&](const member& m) { return m.name == node_name_; }))
    return "--node-name '" + node_name_ + "' is not a member of --cluster";
  if (cluster_max_in_flight_ < 1 || cluster_max_in_flight_ > 1000000)
    return "--cluster-max-in-flight must be between 1 and 1000000, got "
           + std::to_string(cluster_max_in_flight_);
  result.cluster_max_in_flight = static_cast<uint64_t>(cluster_max_in_flight_);
  if (cluster_protocol_ < 1 || cluster_protocol_ > 1000000)
    return "--cluster-protocol must be between 1 and 1000000";
  result.cluster_protocol = static_cast<uint32_t>(cluster_protocol_);
  if (!cluster_ca_.empty()) {
    if (tls_cert_.empty())
      return "--cluster-ca needs --tls-cert and --tls-key: the node's "
             "certificate, signed by that CA";
    if (!std::ifstream{cluster_ca_})
      return "--cluster-ca: cannot read " + cluster_ca_;
    result.cluster_ca = cluster_ca_;
    result.cluster_cert = tls_cert_;
    result.cluster_key = tls_key_;
  }
  return {};
}

} // namespace actormq::http
