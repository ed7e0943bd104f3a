#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

#include "actormq/cluster.hpp"
#include "actormq/log.hpp"
#include "actormq/storage_actor.hpp"
#include "auth.hpp"
#include "sqs.hpp"
#include "tls.hpp"

namespace actormq::http {

/// The settings of the `actormq` service, after validation.
struct settings {
  /// Address to listen on.
  std::string host = "0.0.0.0";
  /// Port to listen on; 0 picks a free one.
  uint16_t port = 8006;
  /// Time between two messages of the built-in consumer.
  caf::timespan consume_interval = std::chrono::seconds{5};
  /// Largest message body accepted, in bytes.
  size_t max_message_bytes = 1024 * 1024;
  /// Where persistent state lives.
  std::string data_dir = "./data";
  /// False with --fsync=none: everything lives in memory only.
  bool persistent = true;
  /// When a write counts as done.
  fsync_mode fsync = fsync_mode::always;
  /// Time between syncs with --fsync=interval.
  caf::timespan fsync_interval = std::chrono::milliseconds{100};
  /// Lines below this level are dropped.
  log::level log_level = log::level::info;
  /// Threads that serve HTTP.
  size_t http_threads = 2;
  /// Largest request line plus headers accepted, in bytes.
  size_t max_header_bytes = 16 * 1024;
  /// Time for a request line and headers to arrive.
  caf::timespan header_timeout = std::chrono::seconds{10};
  /// Time for a whole request, body included, to arrive.
  caf::timespan request_timeout = std::chrono::seconds{30};
  /// Time a keep-alive connection may wait for its next request.
  caf::timespan idle_timeout = std::chrono::seconds{60};
  /// Time a client may take no byte of the replies waiting for it.
  caf::timespan send_timeout = std::chrono::seconds{30};
  /// Connections served at once.
  uint32_t max_connections = 10000;
  /// Bound on all queues' memory together, in bytes; 0: none.
  uint64_t max_memory_bytes = 0;
  /// The queue the built-in consumer reads.
  std::string consume_queue = "default";
  /// Messages the built-in consumer leases per interval.
  uint32_t consume_batch = 1;
  /// Built-in consumers; 0: none.
  uint32_t consumers = 1;
  /// The auth file; empty: access control off.
  std::string auth_file;
  /// Its tokens (null: access control off).
  std::shared_ptr<const auth::token_set> tokens;
  /// With --new-token=NAME: the name; actormq prints a new token and its
  /// line for the auth file, and exits.
  std::string new_token;
  /// The TLS context loaded from --tls-cert and friends (null: plain
  /// HTTP).
  std::shared_ptr<const tls_context> tls;
  /// Where SQS's queue URLs and ARNs point (--sqs-base-url, --sqs-region).
  sqs::settings sqs;
  /// This node's name (--node-name): the owner named in queue info and the
  /// `node` label of /metrics; empty: none.
  std::string node_name;
  /// The cluster's members (--cluster); empty: this node runs alone.
  std::vector<member> members;
  /// With --cluster-ca: the CA file that signs every member's certificate;
  /// links then use TLS with --tls-cert and --tls-key, verified both ways.
  std::string cluster_ca;
  std::string cluster_cert;
  std::string cluster_key;
  /// Requests forwarded to one other node at most at a time.
  uint64_t cluster_max_in_flight = 1024;
  /// The cluster protocol version this node speaks (only tests of mixed
  /// versions change it).
  uint32_t cluster_protocol = cluster_protocol_version;
};

/// The command line and `caf-application.ini` of `actormq`: CAF's own
/// options plus ours in the global group (`--port=8006`, ...).
class config : public caf::actor_system_config {
public:
  config();

  /// Checks the parsed values; on success fills `out`, else returns a text
  /// that names the option and says what it accepts.
  std::string validate(settings& out) const;

private:
  /// The cluster's part of validate().
  std::string validate_cluster(settings& result) const;

  std::string host_;
  int64_t port_;
  caf::timespan consume_interval_;
  int64_t max_message_bytes_;
  std::string data_dir_;
  std::string fsync_;
  caf::timespan fsync_interval_;
  std::string log_level_;
  int64_t http_threads_;
  int64_t max_header_bytes_;
  caf::timespan header_timeout_;
  caf::timespan request_timeout_;
  caf::timespan idle_timeout_;
  caf::timespan send_timeout_;
  int64_t max_connections_;
  int64_t max_memory_bytes_;
  std::string consume_queue_;
  int64_t consume_batch_;
  int64_t consumers_;
  std::string auth_file_;
  std::string new_token_;
  std::string tls_cert_;
  std::string tls_key_;
  std::string tls_client_ca_;
  std::string sqs_base_url_;
  std::string sqs_region_ = "us-east-1";
  std::string node_name_;
  std::string cluster_;
  std::string cluster_ca_;
  int64_t cluster_max_in_flight_ = 1024;
  int64_t cluster_protocol_ = cluster_protocol_version;
};

} // namespace actormq::http
