#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <caf/error.hpp>
#include <caf/timespan.hpp>
#include <nlohmann/json.hpp>

#include "actormq/actors.hpp"
#include "api.hpp"
#include "auth.hpp"
#include "wire.hpp"

/// Amazon SQS's API on the same queues: requests of either SQS protocol
/// (AWS JSON 1.0 and Query) read into one `call`, and results and errors
/// written back in the shape the client's protocol expects. Nothing here
/// knows sockets or actors: the bridge performs the calls (see
/// sqs_actions.cpp).
namespace actormq::http::sqs {

/// How a client speaks SQS.
enum class protocol : uint8_t {
  /// `X-Amz-Target: AmazonSQS.<Action>`, JSON in and out.
  json,
  /// A form with `Action=`, XML out.
  query,
};

/// The actions served.
enum class action : uint8_t {
  create_queue,
  get_queue_url,
  list_queues,
  delete_queue,
  purge_queue,
  get_queue_attributes,
  set_queue_attributes,
  send_message,
  send_message_batch,
  receive_message,
  delete_message,
  delete_message_batch,
  change_message_visibility,
  change_message_visibility_batch,
  list_dead_letter_source_queues,
  tag_queue,
  untag_queue,
  list_queue_tags,
  start_message_move_task,
  cancel_message_move_task,
  list_message_move_tasks,
  add_permission,
  remove_permission,
};

/// The errors a client can get, each with SQS's code in both protocols.
enum class code : uint8_t {
  invalid_action,
  missing_parameter,
  invalid_parameter_value,
  invalid_attribute_name,
  invalid_attribute_value,
  invalid_message_contents,
  message_too_long,
  queue_does_not_exist,
  queue_already_exists,
  receipt_handle_is_invalid,
  message_not_inflight,
  too_many_entries,
  empty_batch,
  batch_ids_not_distinct,
  invalid_batch_entry_id,
  batch_request_too_long,
  over_limit,
  resource_not_found,
  unsupported_operation,
  serialization,
  missing_authentication_token,
  incomplete_signature,
  invalid_client_token_id,
  signature_does_not_match,
  request_expired,
  access_denied,
  service_unavailable,
  internal_failure,
};

/// How an error code is written.
struct code_info {
  /// The JSON protocol's `__type` (after "com.amazonaws.sqs#").
  const char* type;
  /// The Query protocol's code (and x-amzn-query-error's, and a batch
  /// entry's).
  const char* query;
  uint16_t status;
  /// Whether the client is at fault ("Sender") or the server ("Receiver").
  bool sender;
};

/// How `x` is written.
const code_info& code_def_of(code x);

/// An error with its sentence for the client.
struct fault {
  code what;
  std::string message;
};

/// Where queue URLs and ARNs point (--sqs-base-url, --sqs-region).
struct settings {
  /// `scheme://host[:port]` of queue URLs; empty: http:// and the
  /// request's Host header.
  std::string base_url;
  /// The region in ARNs.
  std::string region = "us-east-1";
};

/// The account every queue belongs to, as on local SQS servers.
constexpr std::string_view account = "000000000000";

/// The system attributes a receive can ask for, as bits.
namespace system_attribute {
constexpr uint32_t sent_timestamp = 1u << 0;
constexpr uint32_t approximate_receive_count = 1u << 1;
constexpr uint32_t approximate_first_receive_timestamp = 1u << 2;
constexpr uint32_t sender_id = 1u << 3;
constexpr uint32_t message_group_id = 1u << 4;
constexpr uint32_t message_deduplication_id = 1u << 5;
constexpr uint32_t sequence_number = 1u << 6;
constexpr uint32_t dead_letter_queue_source_arn = 1u << 7;
constexpr uint32_t aws_trace_header = 1u << 8;
constexpr uint32_t all = (1u << 9) - 1;
} // namespace system_attribute

/// One entry of a batch (a single SendMessage, DeleteMessage or
/// ChangeMessageVisibility is a batch of one without an id).
struct entry {
  /// The client's id for it (batches only).
  std::string id;
  /// Set when the entry itself is wrong: it fails alone.
  std::optional<fault> failed;
  /// SendMessage: the message.
  new_message msg;
  /// DeleteMessage, ChangeMessageVisibility: the receipt handle.
  std::string receipt;
  /// ChangeMessageVisibility: the new timeout.
  caf::timespan visibility{0};
};

/// One parsed SQS request.
struct call {
  protocol proto = protocol::json;
  action act = action::list_queues;
  /// Names this request in its reply and in the log.
  std::string request_id;
  /// `scheme://host[:port]` of the queue URLs in the reply.
  std::string base_url;
  /// The region of ARNs in the reply.
  std::string region;
  /// The queue the call is about (a move task: the source).
  std::string queue;
  /// CreateQueue, SetQueueAttributes: the attributes named
  /// (attribute_field bits) and their values.
  uint32_t attribute_fields = 0;
  queue_attributes attributes;
  /// CreateQueue, TagQueue: tags; UntagQueue: keys (values empty).
  std::vector<std::pair<std::string, std::string>> tags;
  /// GetQueueAttributes: the names asked for; ReceiveMessage: the message
  /// attributes asked for (names, "All", ".*" or "prefix.*").
  std::vector<std::string> names;
  /// ReceiveMessage: the system attributes asked for.
  uint32_t system_attributes = 0;
  /// Sends, deletes and visibility changes.
  std::vector<entry> entries;
  /// ReceiveMessage.
  uint32_t max = 1;
  caf::timespan wait{-1};
  caf::timespan visibility{0};
  /// ReceiveMessage: ReceiveRequestAttemptId (FIFO), empty: none.
  std::string attempt_id;
  /// ListQueues: QueueNamePrefix; ListQueues, ListDeadLetterSourceQueues,
  /// ListMessageMoveTasks: MaxResults (0: none given) and NextToken.
  std::string prefix;
  uint32_t max_results = 0;
  std::string next_token;
  /// CancelMessageMoveTask.
  std::string task_handle;
  /// With access control on: the access key id that signed the request
  /// (the SenderId of what it sends); else empty.
  std::string sender;
  /// With access control on: the caller's grants (lists show only the
  /// queues they name; a task is cancelled only with manage on its queue);
  /// null: everything.
  std::shared_ptr<const auth::grants> visible;
};

/// The protocol `req` speaks if it is an SQS request: a POST with
/// `X-Amz-Target: AmazonSQS.*` (JSON), or a form POST (or a GET with a
/// query) carrying `Action=` to `/` or to a queue URL's path (Query).
std::optional<protocol> detect(const request& req);

/// Reads an SQS request, named `request_id`; a reply (in the client's
/// protocol) when it is wrong.
std::variant<call, reply> parse(const request& req, protocol proto,
                                std::string request_id, const settings& cfg,
                                const api_limits& limits);

/// The grant an action needs on its queue with access control on; none
/// for ListQueues (it lists the queues the token holds a grant on),
/// GetQueueUrl and ListDeadLetterSourceQueues (any grant on the queue; the
/// list shows only queues the token holds a grant on) and
/// CancelMessageMoveTask (manage on the task's queue, checked with the
/// task).
std::optional<auth::action> needed_grant(action act);

/// The action's name, as in `X-Amz-Target` and `Action=`.
std::string_view name_of(action act);

/// A fresh request id (a UUID).
std::string new_request_id();

/// The reply to `c` with its result, given in the JSON protocol's shape
/// (rendered as XML for Query).
reply result_reply(const call& c, const nlohmann::ordered_json& result);

/// The reply with error `f`, in `proto`.
reply error_reply(protocol proto, const std::string& request_id,
                  const fault& f);

/// The SQS error an actor's error stands for.
fault to_fault(const caf::error& err);

/// A queue's URL and ARN.
std::string queue_url(const call& c, std::string_view name);
std::string queue_arn(const call& c, std::string_view name);

/// The entry of a ReceiveMessage result for `x`, with the attributes `c`
/// asks for.
nlohmann::ordered_json message_json(const call& c, const lease& x,
                                    time_point now);

/// The MessageId of message `id`: a UUID's shape, which clients such as
/// Spring Cloud AWS read as a UUID (the native API shows the number).
std::string message_id(uint64_t id);

/// The entry of a SendMessage result for `msg`, sent as id `id`.
nlohmann::ordered_json sent_json(const new_message& msg, uint64_t id);

/// GetQueueAttributes' result for `x`: the attributes `c` names.
nlohmann::ordered_json attributes_json(const call& c, const queue_info& x);

/// Whether the attributes `c` gives all equal those of `x` (a CreateQueue
/// of an existing queue must not change it).
bool same_attributes(const call& c, const queue_attributes& x);

/// The attributes of a queue that SQS creates: SQS's defaults over
/// `defaults`.
queue_attributes sqs_defaults(queue_attributes defaults);

/// Lowercase hex MD5 of `x`, and SQS's MD5 of message attributes.
std::string md5_hex(std::string_view x);
std::string attributes_md5(const std::vector<message_attribute>& xs);

} // namespace actormq::http::sqs
