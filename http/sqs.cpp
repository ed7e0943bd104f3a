#include "sqs.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <openssl/evp.h>

#include "actormq/errors.hpp"
#include "attributes.hpp"
#include "text.hpp"

namespace actormq::http::sqs {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// -- actions -----------------------------------------------------------------

struct action_def {
  action act;
  const char* name;
  /// Whether a result comes back (Query: a <NameResult> element, maybe
  /// empty).
  bool output;
};

constexpr action_def actions[] = {
  {action::create_queue, "CreateQueue", true},
  {action::get_queue_url, "GetQueueUrl", true},
  {action::list_queues, "ListQueues", true},
  {action::delete_queue, "DeleteQueue", false},
  {action::purge_queue, "PurgeQueue", false},
  {action::get_queue_attributes, "GetQueueAttributes", true},
  {action::set_queue_attributes, "SetQueueAttributes", false},
  {action::send_message, "SendMessage", true},
  {action::send_message_batch, "SendMessageBatch", true},
  {action::receive_message, "ReceiveMessage", true},
  {action::delete_message, "DeleteMessage", false},
  {action::delete_message_batch, "DeleteMessageBatch", true},
  {action::change_message_visibility, "ChangeMessageVisibility", false},
  {action::change_message_visibility_batch, "ChangeMessageVisibilityBatch", true},
  {action::list_dead_letter_source_queues, "ListDeadLetterSourceQueues", true},
  {action::tag_queue, "TagQueue", false},
  {action::untag_queue, "UntagQueue", false},
  {action::list_queue_tags, "ListQueueTags", true},
  {action::start_message_move_task, "StartMessageMoveTask", true},
  {action::cancel_message_move_task, "CancelMessageMoveTask", true},
  {action::list_message_move_tasks, "ListMessageMoveTasks", true},
  {action::add_permission, "AddPermission", false},
  {action::remove_permission, "RemovePermission", false},
};

std::optional<action> action_named(std::string_view name) {
  for (auto& a : actions)
    if (name == a.name)
      return a.act;
  return std::nullopt;
}

// -- errors ------------------------------------------------------------------

constexpr code_info codes[] = {
  {"InvalidAction", "InvalidAction", 400, true},
  {"MissingParameter", "MissingParameter", 400, true},
  {"InvalidParameterValue", "InvalidParameterValue", 400, true},
  {"InvalidAttributeName", "InvalidAttributeName", 400, true},
  {"InvalidAttributeValue", "InvalidAttributeValue", 400, true},
  {"InvalidMessageContents", "InvalidMessageContents", 400, true},
  {"MessageTooLong", "MessageTooLong", 400, true},
  {"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, true},
  {"QueueNameExists", "QueueAlreadyExists", 400, true},
  {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400, true},
  {"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400,
   true},
  {"TooManyEntriesInBatchRequest",
   "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, true},
  {"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400,
   true},
  {"BatchEntryIdsNotDistinct",
   "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, true},
  {"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400,
   true},
  {"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400,
   true},
  {"OverLimit", "OverLimit", 403, true},
  {"ResourceNotFoundException", "ResourceNotFoundException", 404, true},
  {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400,
   true},
  {"SerializationException", "SerializationException", 400, true},
  {"MissingAuthenticationToken", "MissingAuthenticationToken", 403, true},
  {"IncompleteSignature", "IncompleteSignature", 400, true},
  {"InvalidClientTokenId", "InvalidClientTokenId", 403, true},
  {"SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, true},
  {"RequestExpired", "RequestExpired", 400, true},
  {"AccessDenied", "AccessDenied", 403, true},
  {"ServiceUnavailable", "ServiceUnavailable", 503, false},
  {"InternalFailure", "InternalFailure", 500, false},
};


fault fail(code what, std::string message) {
  return fault{what, std::move(message)};
}

fault invalid(std::string_view field, std::string_view rule) {
  return fail(code::invalid_parameter_value,
              "Value for parameter " + std::string{field} + " is invalid. "
                + std::string{rule});
}

fault missing(std::string_view field) {
  return fail(code::missing_parameter, "The request must contain the "
                                       "parameter "
                                         + std::string{field} + ".");
}

// -- reading parameters -------------------------------------------------------

/// Reads typed parameters from a request's object (the JSON protocol's
/// body, or the Query form turned into the same shape); the first problem
/// wins.
class params {
public:
  explicit params(const json& obj) : obj_(obj) {
    // nop
  }

  /// The parameter `name`; null if absent. Query writes an empty list or
  /// map as its name with an empty value: that is absent too.
  const json* get(const char* name) const {
    auto i = obj_.find(name);
    if (i == obj_.end() || i->is_null()
        || (i->is_string() && i->get_ref<const std::string&>().empty()))
      return nullptr;
    return &*i;
  }

  /// A string; `out` unchanged if absent.
  bool text(const char* name, std::string& out) {
    auto x = get(name);
    if (!x)
      return true;
    if (!x->is_string())
      return set(invalid(name, "It must be a string."));
    out = x->get<std::string>();
    return true;
  }

  /// A string of 1-128 letters, digits and punctuation (a group, a dedup
  /// id, an attempt id); `out` unchanged if absent.
  bool id_text(const char* name, std::string& out) {
    if (!text(name, out))
      return false;
    if (get(name) && !valid_group(out))
      return set(invalid(name, "It must be 1 to 128 letters, digits and "
                               "punctuation."));
    return true;
  }

  /// A required string.
  bool required(const char* name, std::string& out) {
    if (!get(name))
      return set(missing(name));
    return text(name, out);
  }

  /// An integer in [lo, hi] (a number, or a string of one in Query);
  /// `out` unchanged if absent.
  template <class T>
  bool integer(const char* name, int64_t lo, int64_t hi, T& out) {
    auto x = get(name);
    if (!x)
      return true;
    int64_t n = 0;
    bool ok = false;
    if (x->is_number_integer()) {
      n = x->get<int64_t>();
      ok = true;
    } else if (x->is_string()) {
      auto& s = x->get_ref<const std::string&>();
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      ok = !s.empty() && ec == std::errc{} && ptr == s.data() + s.size();
    }
    if (!ok || n < lo || n > hi)
      return set(invalid(name, "It must be an integer from "
                                 + std::to_string(lo) + " to "
                                 + std::to_string(hi) + "."));
    out = static_cast<T>(n);
    return true;
  }

  /// Seconds in [lo, hi] as a timespan; `out` unchanged if absent.
  bool seconds(const char* name, int64_t lo, int64_t hi,
               caf::timespan& out) {
    int64_t n = -1;
    if (!integer(name, lo, hi, n))
      return false;
    if (n >= 0)
      out = std::chrono::seconds{n};
    return true;
  }

  /// A list of strings; `out` unchanged if absent.
  bool strings(const char* name, std::vector<std::string>& out) {
    auto x = get(name);
    if (!x)
      return true;
    if (!x->is_array())
      return set(invalid(name, "It must be a list of strings."));
    for (auto& s : *x) {
      if (!s.is_string())
        return set(invalid(name, "It must be a list of strings."));
      out.push_back(s.get<std::string>());
    }
    return true;
  }

  /// A map of strings to strings; `out` unchanged if absent.
  bool string_map(const char* name,
                  std::vector<std::pair<std::string, std::string>>& out) {
    auto x = get(name);
    if (!x)
      return true;
    if (!x->is_object())
      return set(invalid(name, "It must be a map of strings."));
    for (auto& [k, v] : x->items()) {
      if (!v.is_string())
        return set(invalid(name, "It must be a map of strings."));
      out.emplace_back(k, v.get<std::string>());
    }
    return true;
  }

  bool set(fault f) {
    if (!problem)
      problem = std::move(f);
    return false;
  }

  std::optional<fault> problem;

private:
  const json& obj_;
};

// -- the Query protocol's flat parameters -------------------------------------

/// Splits `key` at its first '.'.
std::pair<std::string_view, std::string_view> head_tail(std::string_view key) {
  auto dot = key.find('.');
  if (dot == std::string_view::npos)
    return {key, {}};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

/// Reads the 1-based index that starts `x` ("3" or "3.Name"); 0 if none.
size_t index_of(std::string_view& x) {
  auto [first, rest] = head_tail(x);
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(first.data(), first.data() + first.size(),
                                   n);
  if (first.empty() || ec != std::errc{} || ptr != first.data() + first.size()
      || n == 0 || n > 1000)
    return 0;
  x = rest;
  return n;
}

using flat = std::vector<std::pair<std::string, std::string>>;

json unflatten(const flat& xs);

/// Query's flattened lists and maps, by the prefix of their keys, and the
/// member of the JSON shape each becomes.
struct flat_rule {
  const char* prefix;
  const char* member;
  enum kind_t : uint8_t { list, name_value, key_value, typed, entries } kind;
};

constexpr flat_rule flat_rules[] = {
  {"AttributeName", "AttributeNames", flat_rule::list},
  {"MessageAttributeName", "MessageAttributeNames", flat_rule::list},
  {"MessageSystemAttributeName", "MessageSystemAttributeNames",
   flat_rule::list},
  {"TagKey", "TagKeys", flat_rule::list},
  {"AWSAccountId", "AWSAccountIds", flat_rule::list},
  {"ActionName", "Actions", flat_rule::list},
  {"Attribute", "Attributes", flat_rule::name_value},
  {"Tag", "Tags", flat_rule::key_value},
  {"MessageAttribute", "MessageAttributes", flat_rule::typed},
  {"MessageSystemAttribute", "MessageSystemAttributes", flat_rule::typed},
  {"SendMessageBatchRequestEntry", "Entries", flat_rule::entries},
  {"DeleteMessageBatchRequestEntry", "Entries", flat_rule::entries},
  {"ChangeMessageVisibilityBatchRequestEntry", "Entries",
   flat_rule::entries},
};

/// Turns Query's flat parameters into the JSON protocol's shape:
/// `AttributeName.1=All` into `"AttributeNames": ["All"]`,
/// `Attribute.1.Name=k&Attribute.1.Value=v` into `"Attributes": {"k": "v"}`,
/// `MessageAttribute.1.Value.StringValue` into the typed map, and
/// `...BatchRequestEntry.N.*` into `"Entries"`. Numbers stay strings (the
/// readers take either). Malformed keys are left out, as unknown ones are.
json unflatten(const flat& xs) {
  auto out = json::object();
  // By rule, then by index: the parameters under each.
  std::map<const flat_rule*, std::map<size_t, flat>> grouped;
  for (auto& [key, value] : xs) {
    auto [first, rest] = head_tail(key);
    const flat_rule* rule = nullptr;
    for (auto& r : flat_rules)
      if (first == r.prefix)
        rule = &r;
    if (!rule) {
      if (rest.empty())
        out[key] = value;
      continue;
    }
    auto n = index_of(rest);
    if (n == 0)
      continue;
    grouped[rule][n].emplace_back(std::string{rest}, value);
  }
  for (auto& [rule, by_index] : grouped) {
    // A plain parameter of the same name gives way to the flattened one.
    auto& dest = out[rule->member];
    auto want_list = rule->kind == flat_rule::list
                     || rule->kind == flat_rule::entries;
    if (want_list ? !dest.is_array() : !dest.is_object())
      dest = want_list ? json::array() : json::object();
    for (auto& numbered : by_index) {
      auto& fields = numbered.second;
      auto field = [&](std::string_view name) -> const std::string* {
        for (auto& [k, v] : fields)
          if (k == name)
            return &v;
        return nullptr;
      };
      switch (rule->kind) {
        case flat_rule::list:
          if (auto v = field(""))
            dest.push_back(*v);
          break;
        case flat_rule::name_value:
          if (auto k = field("Name"); k && field("Value"))
            dest[*k] = *field("Value");
          break;
        case flat_rule::key_value:
          if (auto k = field("Key"); k && field("Value"))
            dest[*k] = *field("Value");
          break;
        case flat_rule::typed: {
          auto k = field("Name");
          if (!k)
            break;
          auto& v = dest[*k];
          v = json::object();
          for (auto name : {"DataType", "StringValue", "BinaryValue"})
            if (auto x = field(std::string{"Value."} + name))
              v[name] = *x;
          break;
        }
        case flat_rule::entries:
          dest.push_back(unflatten(fields));
          break;
      }
    }
  }
  return out;
}

/// Reads `a=b&c=d` into pairs; false on a bad %-escape.
bool read_form(std::string_view x, flat& out) {
  while (!x.empty()) {
    auto field = take_until(x, '&');
    if (field.empty())
      continue;
    auto eq = field.find('=');
    auto key = percent_decode(field.substr(0, eq), true);
    auto value = percent_decode(
      eq == std::string_view::npos ? std::string_view{} : field.substr(eq + 1),
      true);
    if (!key || !value)
      return false;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return true;
}

bool is_form(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ')
    media.remove_suffix(1);
  return iequals(media, "application/x-www-form-urlencoded");
}

/// Whether `path` is a queue URL's path, `/<account>/<name>`; sets `name`.
bool queue_path(std::string_view path, std::string& name) {
  if (path.size() < 2 || path.front() != '/')
    return false;
  path.remove_prefix(1);
  auto slash = path.find('/');
  if (slash == std::string_view::npos)
    return false;
  auto acct = path.substr(0, slash);
  auto rest = path.substr(slash + 1);
  if (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (acct.empty() || acct.size() > 12
      || !std::all_of(acct.begin(), acct.end(),
                      [](char c) { return c >= '0' && c <= '9'; })
      || rest.empty() || rest.find('/') != std::string_view::npos)
    return false;
  name = std::string{rest};
  return true;
}

/// Whether a form or query has a parameter named `name` (as written,
/// undecoded).
bool has_param(std::string_view x, std::string_view name) {
  while (!x.empty()) {
    auto field = take_until(x, '&');
    if (field.substr(0, field.find('=')) == name)
      return true;
  }
  return false;
}

/// The queue a URL names: its last path segment (a bare name is taken
/// as it is).
std::optional<std::string> name_of_url(std::string_view url) {
  while (!url.empty() && url.back() == '/')
    url.remove_suffix(1);
  auto slash = url.rfind('/');
  auto name = slash == std::string_view::npos ? url : url.substr(slash + 1);
  if (!valid_queue_name(name))
    return std::nullopt;
  return std::string{name};
}

/// The queue an ARN names: its last ':'-separated part.
std::optional<std::string> name_of_arn(std::string_view arn) {
  if (arn.substr(0, 12) != "arn:aws:sqs:")
    return std::nullopt;
  auto colon = arn.rfind(':');
  auto name = arn.substr(colon + 1);
  if (!valid_queue_name(name))
    return std::nullopt;
  return std::string{name};
}

// -- system attributes --------------------------------------------------------

struct system_def {
  uint32_t bit;
  const char* name;
};

constexpr system_def system_attributes[] = {
  {system_attribute::sent_timestamp, "SentTimestamp"},
  {system_attribute::approximate_receive_count, "ApproximateReceiveCount"},
  {system_attribute::approximate_first_receive_timestamp,
   "ApproximateFirstReceiveTimestamp"},
  {system_attribute::sender_id, "SenderId"},
  {system_attribute::message_group_id, "MessageGroupId"},
  {system_attribute::message_deduplication_id, "MessageDeduplicationId"},
  {system_attribute::sequence_number, "SequenceNumber"},
  {system_attribute::dead_letter_queue_source_arn,
   "DeadLetterQueueSourceArn"},
  {system_attribute::aws_trace_header, "AWSTraceHeader"},
};

uint32_t system_bits(const std::vector<std::string>& names) {
  uint32_t bits = 0;
  for (auto& n : names) {
    if (n == "All")
      bits |= system_attribute::all;
    for (auto& d : system_attributes)
      if (n == d.name)
        bits |= d.bit;
  }
  return bits;
}

// -- queue attributes ---------------------------------------------------------

/// SQS's queue attributes that ActorMQ takes and keeps nothing of: they
/// name AWS's encryption, policies and throughput modes.
constexpr const char* ignored_attributes[] = {
  "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
  "Policy", "DeduplicationScope", "FifoThroughputLimit",
  "RedriveAllowPolicy"};

/// Names GetQueueAttributes answers beyond attribute_list and stat_list.
constexpr const char* derived_attributes[] = {"QueueArn", "RedrivePolicy"};

bool known_attribute(std::string_view name) {
  if (name == "All")
    return true;
  bool found = false;
  each_attribute([&](const auto& def) {
    found = found || (def.sqs && name == def.sqs);
  });
  each_stat([&](const auto& def) {
    found = found || (def.sqs && name == def.sqs);
  });
  for (auto n : derived_attributes)
    found = found || name == n;
  for (auto n : ignored_attributes)
    found = found || name == n;
  return found;
}

/// Reads one attribute's text value into `out` by its type.
bool read_value(const attribute_def<caf::timespan>& def, const std::string& v,
                caf::timespan& out) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size()
      || n < def.sqs_lo || n > def.sqs_hi)
    return false;
  // SQS's 0 s of visibility is ActorMQ's shortest lease.
  out = n == 0 && def.lo > 0
          ? std::chrono::duration_cast<caf::timespan>(
            std::chrono::duration<double>{def.lo})
          : caf::timespan{std::chrono::seconds{n}};
  return true;
}
bool read_value(const attribute_def<bool>&, const std::string& v, bool& out) {
  if (v != "true" && v != "false")
    return false;
  out = v == "true";
  return true;
}
template <class T>
bool read_value(const attribute_def<T>& def, const std::string& v, T& out) {
  if constexpr (std::is_integral_v<T>) {
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size()
        || n < def.sqs_lo || n > def.sqs_hi)
      return false;
    out = static_cast<T>(n);
    return true;
  } else {
    return false;
  }
}

std::string value_text(caf::timespan x) {
  return std::to_string(
    std::chrono::duration_cast<std::chrono::seconds>(x).count());
}
std::string value_text(bool x) {
  return x ? "true" : "false";
}
template <class T>
std::string value_text(const T& x) {
  if constexpr (std::is_integral_v<T>)
    return std::to_string(x);
  else if constexpr (std::is_same_v<T, std::string>)
    return x;
  else
    return {};
}

/// Reads RedrivePolicy: `{"deadLetterTargetArn": ARN, "maxReceiveCount":
/// n}` (n a number or a string), or "" to remove it.
bool read_redrive(const std::string& text, queue_attributes& out,
                  std::string& why) {
  if (text.empty()) {
    out.dead_letter_queue.clear();
    out.max_deliveries = 0;
    return true;
  }
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    why = "RedrivePolicy must be a JSON object.";
    return false;
  }
  auto arn = doc.find("deadLetterTargetArn");
  auto count = doc.find("maxReceiveCount");
  std::optional<std::string> target;
  if (arn != doc.end() && arn->is_string())
    target = name_of_arn(arn->get<std::string>());
  if (!target) {
    why = "RedrivePolicy's deadLetterTargetArn must be a queue's ARN.";
    return false;
  }
  int64_t n = 0;
  if (count != doc.end() && count->is_number_integer()) {
    n = count->get<int64_t>();
  } else if (count != doc.end() && count->is_string()) {
    auto& s = count->get_ref<const std::string&>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size())
      n = 0;
  }
  if (n < 1 || n > 1000) {
    why = "RedrivePolicy's maxReceiveCount must be from 1 to 1000.";
    return false;
  }
  out.dead_letter_queue = std::move(*target);
  out.max_deliveries = static_cast<uint32_t>(n);
  return true;
}

/// Reads SQS's `Attributes` map of a CreateQueue or SetQueueAttributes
/// into `c`.
bool read_attributes(params& p, call& c) {
  std::vector<std::pair<std::string, std::string>> xs;
  if (!p.string_map("Attributes", xs))
    return false;
  for (auto& x : xs) {
    auto& name = x.first;
    auto& value = x.second;
    if (name == "RedrivePolicy") {
      std::string why;
      if (!read_redrive(value, c.attributes, why))
        return p.set(fail(code::invalid_attribute_value, why));
      c.attribute_fields |= attribute_field::dead_letter_queue
                            | attribute_field::max_deliveries;
      continue;
    }
    bool found = false;
    bool ok = true;
    each_attribute([&](const auto& def) {
      if (!def.sqs || name != def.sqs)
        return;
      found = true;
      ok = read_value(def, value, c.attributes.*def.member);
      c.attribute_fields |= def.bit;
    });
    if (found && !ok)
      return p.set(fail(code::invalid_attribute_value,
                        "Invalid value for the parameter " + name + "."));
    if (!found
        && std::none_of(std::begin(ignored_attributes),
                        std::end(ignored_attributes),
                        [&](const char* n) { return name == n; }))
      return p.set(fail(code::invalid_attribute_name,
                        "Unknown Attribute " + name + "."));
  }
  return true;
}

// -- messages -----------------------------------------------------------------

/// Reads a message's MessageAttributes into `out`.
bool read_message_attributes(params& p, const json& obj,
                             std::vector<message_attribute>& out) {
  auto i = obj.find("MessageAttributes");
  if (i == obj.end() || i->is_null())
    return true;
  if (!i->is_object())
    return p.set(invalid("MessageAttributes", "It must be a map."));
  for (auto& [name, v] : i->items()) {
    if (!v.is_object())
      return p.set(invalid("MessageAttributes", "Each value must be a map."));
    auto type = v.find("DataType");
    if (type == v.end() || !type->is_string())
      return p.set(invalid("MessageAttributes", "The message attribute '"
                                                  + name
                                                  + "' must contain a "
                                                    "DataType."));
    message_attribute a{name, type->get<std::string>(), {}};
    auto key = is_binary(a.type) ? "BinaryValue" : "StringValue";
    auto val = v.find(key);
    if (val == v.end() || !val->is_string())
      return p.set(invalid("MessageAttributes",
                           "The message attribute '" + name
                             + "' must contain a non-empty " + key + "."));
    if (is_binary(a.type)) {
      auto bytes = base64_decode(val->get<std::string>());
      if (!bytes)
        return p.set(invalid("MessageAttributes",
                             "The message attribute '" + name
                               + "' has a BinaryValue that is not base64."));
      a.value = std::move(*bytes);
    } else {
      a.value = val->get<std::string>();
    }
    out.push_back(std::move(a));
  }
  if (auto why = attribute_problem(out))
    return p.set(invalid("MessageAttributes", *why));
  return true;
}

/// The longest AWSTraceHeader kept.
constexpr size_t max_trace_header = 1024;

/// Reads MessageSystemAttributes: AWSTraceHeader (a String) is the only
/// one SQS defines.
bool read_trace_header(params& p, std::string& out) {
  auto x = p.get("MessageSystemAttributes");
  if (!x)
    return true;
  auto rule = "Its only attribute is AWSTraceHeader, a String of 1 to 1024 "
              "visible ASCII characters.";
  if (!x->is_object())
    return p.set(invalid("MessageSystemAttributes", rule));
  for (auto& [name, v] : x->items()) {
    auto type = v.is_object() ? v.find("DataType") : v.end();
    auto value = v.is_object() ? v.find("StringValue") : v.end();
    if (name != "AWSTraceHeader" || type == v.end() || *type != "String"
        || value == v.end() || !value->is_string())
      return p.set(invalid("MessageSystemAttributes", rule));
    auto& text = value->get_ref<const std::string&>();
    if (text.empty() || text.size() > max_trace_header
        || !std::all_of(text.begin(), text.end(),
                        [](char c) { return c > 0x20 && c < 0x7F; }))
      return p.set(invalid("MessageSystemAttributes", rule));
    out = text;
  }
  return true;
}

/// The largest message SQS takes, body and attributes.
constexpr size_t max_sqs_message = 1024 * 1024;

/// Reads one message (a SendMessage, or an entry of a batch) from `obj`;
/// false with the problem set in `p`.
bool read_message(params& p, const json& obj, new_message& out) {
  std::string body;
  if (!p.required("MessageBody", body))
    return false;
  if (body.empty())
    return p.set(missing("MessageBody"));
  if (!valid_message_text(body))
    return p.set(fail(code::invalid_message_contents,
                      "Invalid characters found. Valid characters are #x9 | "
                      "#xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
                      "#x10000 to #x10FFFF"));
  out.data.body = std::move(body);
  int64_t delay = -1;
  if (!p.integer("DelaySeconds", 0, 900, delay))
    return false;
  if (delay >= 0)
    out.delay = std::chrono::seconds{delay};
  if (!read_message_attributes(p, obj, out.data.attributes))
    return false;
  if (out.data.size() > max_sqs_message)
    return p.set(fail(code::message_too_long,
                      "One or more parameters are invalid. Reason: Message "
                      "must be shorter than 1048576 bytes."));
  if (!p.id_text("MessageGroupId", out.group)
      || !p.id_text("MessageDeduplicationId", out.dedup_id))
    return false;
  return read_trace_header(p, out.trace_header);
}

/// Batch entry ids: 1-80 of [A-Za-z0-9_-].
bool valid_entry_id(std::string_view x) {
  return !x.empty() && x.size() <= 80
         && std::all_of(x.begin(), x.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '_' || c == '-';
            });
}

/// Reads a batch's Entries with `each` (which reads one entry's fields);
/// the batch's own rules first.
template <class F>
bool read_entries(params& p, call& c, F each) {
  auto xs = p.get("Entries");
  if (!xs || (xs->is_array() && xs->empty()))
    return p.set(fail(code::empty_batch,
                      "There should be at least one "
                        + std::string{name_of(c.act)} + "RequestEntry in "
                        + "the request."));
  if (!xs->is_array())
    return p.set(invalid("Entries", "It must be a list."));
  if (xs->size() > 10)
    return p.set(fail(code::too_many_entries,
                      "Maximum number of entries per request are 10. You "
                      "have sent "
                        + std::to_string(xs->size()) + "."));
  std::set<std::string> ids;
  size_t total = 0;
  for (auto& x : *xs) {
    if (!x.is_object())
      return p.set(invalid("Entries", "Each entry must be a map."));
    params q{x};
    entry e;
    if (!q.required("Id", e.id))
      return p.set(*q.problem);
    if (!valid_entry_id(e.id))
      return p.set(fail(code::invalid_batch_entry_id,
                        "A batch entry id can only contain alphanumeric "
                        "characters, hyphens and underscores. It can be at "
                        "most 80 letters long."));
    if (!ids.insert(e.id).second)
      return p.set(fail(code::batch_ids_not_distinct,
                        "Id " + e.id + " repeated."));
    if (!each(q, x, e))
      e.failed = std::move(q.problem);
    total += e.msg.data.size();
    c.entries.push_back(std::move(e));
  }
  if (total > max_sqs_message)
    return p.set(fail(code::batch_request_too_long,
                      "Batch requests cannot be longer than 1048576 "
                      "bytes."));
  return true;
}

/// Reads the queue a call is about: QueueUrl, else the path of a Query
/// request sent to a queue URL.
bool read_queue(params& p, const std::string& path_queue, call& c) {
  std::string url;
  if (!p.text("QueueUrl", url))
    return false;
  if (url.empty()) {
    if (path_queue.empty())
      return p.set(missing("QueueUrl"));
    c.queue = path_queue;
    return true;
  }
  auto name = name_of_url(url);
  if (!name)
    return p.set(fail(code::queue_does_not_exist,
                      "The specified queue does not exist."));
  c.queue = std::move(*name);
  return true;
}

bool read_arn(params& p, const char* field, std::string& out) {
  std::string arn;
  if (!p.required(field, arn))
    return false;
  auto name = name_of_arn(arn);
  if (!name)
    return p.set(invalid(field, "It must be a queue's ARN."));
  out = std::move(*name);
  return true;
}

/// Tags of SQS's rules (see valid_tag()), at most max_tags.
bool valid_tags(params& p,
                const std::vector<std::pair<std::string, std::string>>& xs) {
  if (xs.size() > max_tags
      || !std::all_of(xs.begin(), xs.end(), [](const auto& x) {
           return valid_tag(x.first, x.second);
         }))
    return p.set(invalid("Tags", "A queue has at most 50 tags, each a key "
                                 "of 1 to 128 characters and a value of at "
                                 "most 256."));
  return true;
}

/// SQS's rule for queue names: 1-80 of [A-Za-z0-9_-], a FIFO queue's
/// ending in ".fifo" (within the 80).
bool valid_sqs_name(std::string_view name, bool fifo) {
  constexpr std::string_view suffix = ".fifo";
  if (name.size() > 80)
    return false;
  if (fifo) {
    if (name.size() <= suffix.size()
        || name.substr(name.size() - suffix.size()) != suffix)
      return false;
    name.remove_suffix(suffix.size());
  }
  return valid_entry_id(name);
}

/// Reads the parameters of `c.act` from `obj`.
bool read_call(params& p, const json& obj, const std::string& path_queue,
               call& c) {
  switch (c.act) {
    case action::create_queue: {
      if (!p.required("QueueName", c.queue) || !read_attributes(p, c)
          || !p.string_map("tags", c.tags) || !p.string_map("Tags", c.tags)
          || !valid_tags(p, c.tags))
        return false;
      auto fifo = (c.attribute_fields & attribute_field::fifo) != 0
                  && c.attributes.fifo;
      if (!valid_sqs_name(c.queue, fifo))
        return p.set(invalid("QueueName",
                             fifo ? "A FIFO queue's name must end with "
                                    ".fifo; before it, 1 to 75 of "
                                    "alphanumeric characters, hyphens and "
                                    "underscores."
                                  : "Can only include alphanumeric "
                                    "characters, hyphens, or underscores. 1 "
                                    "to 80 in length (a FIFO queue needs "
                                    "FifoQueue=true)."));
      c.attribute_fields |= attribute_field::fifo;
      c.attributes.fifo = fifo;
      return true;
    }
    case action::get_queue_url:
      return p.required("QueueName", c.queue);
    case action::list_queues:
      return p.text("QueueNamePrefix", c.prefix)
             && p.integer("MaxResults", 1, 1000, c.max_results)
             && p.text("NextToken", c.next_token);
    case action::get_queue_attributes:
      if (!read_queue(p, path_queue, c) || !p.strings("AttributeNames", c.names))
        return false;
      for (auto& n : c.names)
        if (!known_attribute(n))
          return p.set(fail(code::invalid_attribute_name,
                            "Unknown Attribute " + n + "."));
      return true;
    case action::set_queue_attributes:
      if (!read_queue(p, path_queue, c) || !read_attributes(p, c))
        return false;
      if (!p.get("Attributes"))
        return p.set(missing("Attributes"));
      return true;
    case action::send_message:
      if (!read_queue(p, path_queue, c))
        return false;
      c.entries.emplace_back();
      return read_message(p, obj, c.entries.back().msg);
    case action::send_message_batch:
      return read_queue(p, path_queue, c)
             && read_entries(p, c, [](params& q, const json& x, entry& e) {
                  return read_message(q, x, e.msg);
                });
    case action::receive_message: {
      std::vector<std::string> system;
      if (!read_queue(p, path_queue, c)
          || !p.integer("MaxNumberOfMessages", 1, 10, c.max)
          || !p.seconds("VisibilityTimeout", 0, 12 * 3600, c.visibility)
          || !p.seconds("WaitTimeSeconds", 0, max_receive_wait.count(),
                        c.wait)
          || !p.strings("AttributeNames", system)
          || !p.strings("MessageSystemAttributeNames", system)
          || !p.strings("MessageAttributeNames", c.names)
          || !p.id_text("ReceiveRequestAttemptId", c.attempt_id))
        return false;
      c.system_attributes = system_bits(system);
      // SQS's 0 s: the shortest lease ActorMQ gives.
      if (p.get("VisibilityTimeout") && c.visibility == caf::timespan{0})
        c.visibility = std::chrono::milliseconds{1};
      return true;
    }
    case action::delete_message:
      if (!read_queue(p, path_queue, c))
        return false;
      c.entries.emplace_back();
      return p.required("ReceiptHandle", c.entries.back().receipt);
    case action::delete_message_batch:
      return read_queue(p, path_queue, c)
             && read_entries(p, c, [](params& q, const json&, entry& e) {
                  return q.required("ReceiptHandle", e.receipt);
                });
    case action::change_message_visibility: {
      if (!read_queue(p, path_queue, c))
        return false;
      auto& e = c.entries.emplace_back();
      if (!p.get("VisibilityTimeout"))
        return p.set(missing("VisibilityTimeout"));
      return p.required("ReceiptHandle", e.receipt)
             && p.seconds("VisibilityTimeout", 0, 12 * 3600, e.visibility);
    }
    case action::change_message_visibility_batch:
      return read_queue(p, path_queue, c)
             && read_entries(p, c, [](params& q, const json&, entry& e) {
                  if (!q.get("VisibilityTimeout"))
                    return q.set(missing("VisibilityTimeout"));
                  return q.required("ReceiptHandle", e.receipt)
                         && q.seconds("VisibilityTimeout", 0, 12 * 3600,
                                      e.visibility);
                });
    case action::list_dead_letter_source_queues:
      return read_queue(p, path_queue, c)
             && p.integer("MaxResults", 1, 1000, c.max_results)
             && p.text("NextToken", c.next_token);
    case action::tag_queue:
      if (!read_queue(p, path_queue, c) || !p.string_map("Tags", c.tags))
        return false;
      if (!p.get("Tags"))
        return p.set(missing("Tags"));
      return valid_tags(p, c.tags);
    case action::untag_queue: {
      std::vector<std::string> keys;
      if (!read_queue(p, path_queue, c) || !p.strings("TagKeys", keys))
        return false;
      if (!p.get("TagKeys"))
        return p.set(missing("TagKeys"));
      for (auto& k : keys)
        c.tags.emplace_back(std::move(k), std::string{});
      return true;
    }
    case action::start_message_move_task: {
      if (!read_arn(p, "SourceArn", c.queue))
        return false;
      if (p.get("DestinationArn"))
        return p.set(fail(code::unsupported_operation,
                          "A move task moves messages back to their source "
                          "queues; DestinationArn is not supported."));
      int64_t rate = 0;
      return p.integer("MaxNumberOfMessagesPerSecond", 1, 500, rate);
    }
    case action::cancel_message_move_task:
      return p.required("TaskHandle", c.task_handle);
    case action::list_message_move_tasks:
      return read_arn(p, "SourceArn", c.queue)
             && p.integer("MaxResults", 1, 10, c.max_results);
    case action::delete_queue:
    case action::purge_queue:
    case action::list_queue_tags:
    case action::add_permission:
    case action::remove_permission:
      return read_queue(p, path_queue, c);
  }
  return true;
}

// -- writing replies ----------------------------------------------------------

constexpr const char* xml_namespace =
  "http://queue.amazonaws.com/doc/2012-11-05/";

void xml_escape(std::string& out, std::string_view x) {
  for (char ch : x) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        // XML 1.0 has no other control character, not even escaped: a
        // message sent so through the native API reads as U+FFFD.
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t'
            && ch != '\n')
          out += "\xEF\xBF\xBD";
        else
          out += ch;
    }
  }
}

/// JSON text of `v`; bytes that are not UTF-8 (from an actor's caller,
/// which the native API does not check) become U+FFFD, never an exception.
std::string dump(const ordered_json& v) {
  return v.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

void xml_text(std::string& out, const ordered_json& v) {
  if (v.is_string())
    xml_escape(out, v.get_ref<const std::string&>());
  else
    xml_escape(out, dump(v));
}

void xml_open(std::string& out, std::string_view tag) {
  out += '<';
  out += tag;
  out += '>';
}

void xml_close(std::string& out, std::string_view tag) {
  out += "</";
  out += tag;
  out += '>';
}

void xml_member(std::string& out, std::string_view key, const ordered_json& v,
                std::string_view act);

/// The elements of the JSON shape's object `v`, in XML.
void xml_members(std::string& out, const ordered_json& v,
                 std::string_view act) {
  for (auto& [k, x] : v.items())
    xml_member(out, k, x, act);
}

/// Writes member `key` of a result: lists flattened into one element per
/// item, maps into Name/Value (or Key/Value) pairs, as SQS's Query
/// protocol does.
void xml_member(std::string& out, std::string_view key, const ordered_json& v,
                std::string_view act) {
  if (v.is_array()) {
    std::string item;
    if (key == "Messages")
      item = "Message";
    else if (key == "QueueUrls" || key == "queueUrls")
      item = "QueueUrl";
    else if (key == "Successful")
      item = std::string{act} + "ResultEntry";
    else if (key == "Failed")
      item = "BatchResultErrorEntry";
    else
      item = std::string{act} + "ResultEntry";
    for (auto& x : v)
      xml_member(out, item, x, act);
    return;
  }
  if (v.is_object()
      && (key == "Attributes" || key == "MessageAttributes" || key == "Tags")) {
    auto item = key == "Attributes"          ? "Attribute"
                : key == "MessageAttributes" ? "MessageAttribute"
                                             : "Tag";
    auto name = key == "Tags" ? "Key" : "Name";
    for (auto& [k, x] : v.items()) {
      xml_open(out, item);
      xml_open(out, name);
      xml_escape(out, k);
      xml_close(out, name);
      xml_open(out, "Value");
      if (x.is_object())
        xml_members(out, x, act);
      else
        xml_text(out, x);
      xml_close(out, "Value");
      xml_close(out, item);
    }
    return;
  }
  xml_open(out, key);
  if (v.is_object())
    xml_members(out, v, act);
  else
    xml_text(out, v);
  xml_close(out, key);
}

/// Milliseconds since the epoch of steady time `t`, by the wall clock now.
std::string epoch_millis(time_point t, time_point now) {
  using namespace std::chrono;
  auto age = duration_cast<system_clock::duration>(now - t);
  auto wall = system_clock::now() - age;
  return std::to_string(
    duration_cast<milliseconds>(wall.time_since_epoch()).count());
}

/// Whether a receive that asks for message attributes `names` gets `name`.
bool wanted(const std::vector<std::string>& names, std::string_view name) {
  for (auto& n : names) {
    if (n == "All" || n == ".*" || n == name)
      return true;
    if (n.size() >= 2 && n.substr(n.size() - 2) == ".*"
        && name.substr(0, n.size() - 1) == std::string_view{n}.substr(
             0, n.size() - 1))
      return true;
  }
  return false;
}

} // namespace

std::optional<protocol> detect(const request& req) {
  std::string name;
  if (req.path != "/" && !queue_path(req.path, name))
    return std::nullopt;
  if (!req.amz_target.empty())
    return req.method == verb::post
               && req.amz_target.substr(0, 10) == "AmazonSQS."
             ? std::optional<protocol>{protocol::json}
             : std::nullopt;
  if (req.method == verb::post && is_form(req.content_type)
      && (has_param(req.body, "Action") || has_param(req.query, "Action")))
    return protocol::query;
  if ((req.method == verb::get || req.method == verb::post)
      && has_param(req.query, "Action"))
    return protocol::query;
  return std::nullopt;
}

std::variant<call, reply> parse(const request& req, protocol proto,
                                std::string request_id, const settings& cfg,
                                const api_limits& limits) {
  call c;
  c.proto = proto;
  c.request_id = std::move(request_id);
  c.region = cfg.region;
  c.base_url = cfg.base_url.empty() ? "http://" + req.host : cfg.base_url;
  auto refuse = [&](const fault& f) { return error_reply(proto, c.request_id, f); };
  json obj;
  std::string act;
  std::string path_queue;
  if (proto == protocol::json) {
    act = req.amz_target.substr(10);
    if (req.body.empty()) {
      obj = json::object();
    } else {
      auto parsed = parse_object(req.body);
      if (!std::holds_alternative<json>(parsed))
        return refuse(fail(code::serialization,
                           "The request body is not a JSON object."));
      obj = std::move(std::get<json>(parsed));
    }
  } else {
    flat xs;
    if (!read_form(req.query, xs)
        || (req.method == verb::post && !read_form(req.body, xs)))
      return refuse(invalid("the form", "It has a bad %-escape."));
    for (auto& [k, v] : xs)
      if (!valid_utf8(k) || !valid_utf8(v))
        return refuse(fail(code::invalid_parameter_value,
                           "A parameter's name or value is not UTF-8."));
    obj = unflatten(xs);
    if (auto i = obj.find("Action"); i != obj.end())
      act = i->get<std::string>();
    queue_path(req.path, path_queue);
  }
  auto a = action_named(act);
  if (!a)
    return refuse(fail(code::invalid_action,
                       valid_entry_id(act)
                         ? "The action " + act + " is not valid for this "
                                                 "endpoint."
                         : "The action is not valid for this endpoint."));
  c.act = *a;
  params p{obj};
  // A queue SQS creates starts from SQS's defaults.
  if (c.act == action::create_queue)
    c.attributes = sqs_defaults(limits.defaults);
  if (!read_call(p, obj, path_queue, c))
    return refuse(*p.problem);
  return c;
}

const code_info& code_def_of(code x) {
  return codes[static_cast<size_t>(x)];
}

std::optional<auth::action> needed_grant(action act) {
  switch (act) {
    case action::list_queues:
    case action::list_dead_letter_source_queues:
    case action::get_queue_url:
    case action::cancel_message_move_task:
      return std::nullopt;
    case action::send_message:
    case action::send_message_batch:
      return auth::action::send;
    case action::receive_message:
    case action::delete_message:
    case action::delete_message_batch:
    case action::change_message_visibility:
    case action::change_message_visibility_batch:
      return auth::action::receive;
    default:
      return auth::action::manage;
  }
}

std::string_view name_of(action act) {
  return actions[static_cast<size_t>(act)].name;
}

std::string new_request_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  auto a = gen();
  auto b = gen();
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF),
                static_cast<unsigned>(a & 0xFFF),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3FFF)),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
  return buf;
}

reply result_reply(const call& c, const ordered_json& result) {
  if (c.proto == protocol::json)
    return {200, result.empty() ? "{}" : dump(result),
            "x-amzn-RequestId: " + c.request_id + "\r\n",
            "application/x-amz-json-1.0"};
  auto act = name_of(c.act);
  std::string out = "<?xml version=\"1.0\"?><";
  out += act;
  out += "Response xmlns=\"";
  out += xml_namespace;
  out += "\">";
  if (actions[static_cast<size_t>(c.act)].output) {
    auto tag = std::string{act} + "Result";
    xml_open(out, tag);
    xml_members(out, result, act);
    xml_close(out, tag);
  }
  out += "<ResponseMetadata><RequestId>";
  out += c.request_id;
  out += "</RequestId></ResponseMetadata></";
  out += act;
  out += "Response>";
  return {200, std::move(out), "x-amzn-RequestId: " + c.request_id + "\r\n",
          "text/xml"};
}

reply error_reply(protocol proto, const std::string& request_id,
                  const fault& f) {
  auto& d = code_def_of(f.what);
  auto side = d.sender ? "Sender" : "Receiver";
  auto headers = "x-amzn-RequestId: " + request_id + "\r\n";
  if (d.status == 503)
    headers += "Retry-After: 1\r\n";
  if (proto == protocol::json) {
    ordered_json body{{"__type", std::string{"com.amazonaws.sqs#"} + d.type},
                      {"message", f.message}};
    headers += "x-amzn-query-error: " + std::string{d.query} + ";" + side
               + "\r\n";
    return {d.status, dump(body), std::move(headers),
            "application/x-amz-json-1.0"};
  }
  std::string out = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"";
  out += xml_namespace;
  out += "\"><Error><Type>";
  out += side;
  out += "</Type><Code>";
  out += d.query;
  out += "</Code><Message>";
  xml_escape(out, f.message);
  out += "</Message><Detail/></Error><RequestId>";
  out += request_id;
  out += "</RequestId></ErrorResponse>";
  return {d.status, std::move(out), std::move(headers), "text/xml"};
}

fault to_fault(const caf::error& err) {
  ec x;
  if (is_actormq_error(err, x)) {
    switch (x) {
      case ec::message_required:
        return missing("MessageBody");
      case ec::message_too_large:
        return fail(code::message_too_long,
                    "One or more parameters are invalid. Reason: Message "
                    "must be shorter than the queue's MaximumMessageSize.");
      case ec::queue_full:
        return fail(code::over_limit,
                    "The queue holds as many messages as its max_depth "
                    "allows.");
      case ec::invalid_receipt:
        return fail(code::receipt_handle_is_invalid,
                    "The input receipt handle is invalid.");
      case ec::stale_receipt:
        return fail(code::message_not_inflight,
                    "The message referred to isn't in flight.");
      case ec::invalid_queue_name:
        return invalid("QueueName", "Queue names are 1 to 80 of "
                                    "alphanumeric characters, hyphens, "
                                    "underscores and dots.");
      case ec::invalid_attributes:
        return fail(code::invalid_attribute_value,
                    "The queue's attributes cannot work together (a "
                    "dead-letter queue must be another valid queue).");
      case ec::unknown_queue:
        return fail(code::queue_does_not_exist,
                    "The specified queue does not exist.");
      case ec::out_of_memory:
        return fail(code::service_unavailable,
                    "The server holds as much as its memory bound allows; "
                    "try again later.");
      case ec::storage_failed:
        return fail(code::service_unavailable,
                    "The server could not store the change; try again "
                    "later.");
      case ec::group_required:
        return missing("MessageGroupId");
      case ec::fifo_forbids:
        return invalid("DelaySeconds",
                       "A FIFO queue takes no per-message delay.");
      case ec::fifo_fixed:
        return fail(code::invalid_attribute_value,
                    "FifoQueue cannot change once a queue exists.");
      case ec::too_many_attributes:
        return invalid("MessageAttributes",
                       "A message has at most 10 attributes.");
      case ec::node_unreachable:
        return fail(code::service_unavailable,
                    "The node that owns the queue is unreachable; try "
                    "again later.");
      case ec::node_busy:
        return fail(code::service_unavailable,
                    "Too many requests are on their way to the node that "
                    "owns the queue; try again later.");
    }
  }
  if (err == caf::sec::request_receiver_down
      || err == caf::sec::request_timeout)
    return fail(code::service_unavailable,
                "The queue is not reachable now; try again later.");
  return fail(code::internal_failure, "The server failed to serve the "
                                      "request.");
}

std::string queue_url(const call& c, std::string_view name) {
  return c.base_url + "/" + std::string{account} + "/" + std::string{name};
}

std::string queue_arn(const call& c, std::string_view name) {
  return "arn:aws:sqs:" + c.region + ":" + std::string{account} + ":"
         + std::string{name};
}

ordered_json message_json(const call& c, const lease& x, time_point now) {
  auto& m = x.msg;
  ordered_json out;
  out["MessageId"] = message_id(m.id);
  out["ReceiptHandle"] = x.receipt;
  out["MD5OfBody"] = md5_hex(m.data.body);
  out["Body"] = m.data.body;
  auto sys = ordered_json::object();
  auto bits = c.system_attributes;
  if (bits & system_attribute::sent_timestamp)
    sys["SentTimestamp"] = epoch_millis(m.enqueued_at, now);
  if (bits & system_attribute::approximate_receive_count)
    sys["ApproximateReceiveCount"] = std::to_string(m.receive_count);
  if ((bits & system_attribute::approximate_first_receive_timestamp)
      && m.first_received_at != time_point{})
    sys["ApproximateFirstReceiveTimestamp"] = epoch_millis(m.first_received_at,
                                                           now);
  if (bits & system_attribute::sender_id)
    sys["SenderId"] = m.sender.empty() ? std::string{account} : m.sender;
  if ((bits & system_attribute::message_group_id) && !m.group.empty())
    sys["MessageGroupId"] = m.group;
  if ((bits & system_attribute::message_deduplication_id)
      && !m.dedup_id.empty())
    sys["MessageDeduplicationId"] = m.dedup_id;
  if ((bits & system_attribute::sequence_number) && !m.group.empty())
    sys["SequenceNumber"] = std::to_string(m.id);
  if ((bits & system_attribute::dead_letter_queue_source_arn)
      && !x.source.empty())
    sys["DeadLetterQueueSourceArn"] = queue_arn(c, x.source);
  if ((bits & system_attribute::aws_trace_header) && !m.trace_header.empty())
    sys["AWSTraceHeader"] = m.trace_header;
  if (!sys.empty())
    out["Attributes"] = std::move(sys);
  std::vector<message_attribute> shown;
  for (auto& a : m.data.attributes)
    if (wanted(c.names, a.name))
      shown.push_back(a);
  if (!shown.empty()) {
    out["MD5OfMessageAttributes"] = attributes_md5(shown);
    auto& attrs = out["MessageAttributes"];
    for (auto& a : shown) {
      if (is_binary(a.type))
        attrs[a.name] = {{"BinaryValue", base64_encode(a.value)},
                         {"DataType", a.type}};
      else
        attrs[a.name] = {{"StringValue", a.value}, {"DataType", a.type}};
    }
  }
  return out;
}

std::string message_id(uint64_t id) {
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-0000-4000-8000-0000%08x",
                static_cast<unsigned>(id >> 32),
                static_cast<unsigned>(id & 0xFFFFFFFFu));
  return buf;
}

ordered_json sent_json(const new_message& msg, uint64_t id) {
  ordered_json out;
  out["MD5OfMessageBody"] = md5_hex(msg.data.body);
  if (!msg.data.attributes.empty())
    out["MD5OfMessageAttributes"] = attributes_md5(msg.data.attributes);
  if (!msg.trace_header.empty())
    out["MD5OfMessageSystemAttributes"] = attributes_md5(
      {{"AWSTraceHeader", "String", msg.trace_header}});
  out["MessageId"] = message_id(id);
  if (!msg.group.empty())
    out["SequenceNumber"] = std::to_string(id);
  return out;
}

ordered_json attributes_json(const call& c, const queue_info& x) {
  auto all = std::find(c.names.begin(), c.names.end(), "All") != c.names.end();
  auto asked = [&](std::string_view name) {
    return all || std::find(c.names.begin(), c.names.end(), name)
                    != c.names.end();
  };
  auto out = ordered_json::object();
  each_attribute([&](const auto& def) {
    if (def.sqs && asked(def.sqs))
      out[def.sqs] = value_text(x.attributes.*def.member);
  });
  each_stat([&](const auto& def) {
    if constexpr (std::is_integral_v<
                    std::decay_t<decltype(x.stats.*def.member)>>)
      if (def.sqs && asked(def.sqs))
        out[def.sqs] = std::to_string(x.stats.*def.member);
  });
  if (asked("QueueArn"))
    out["QueueArn"] = queue_arn(c, x.name);
  if (asked("RedrivePolicy") && !x.attributes.dead_letter_queue.empty()
      && x.attributes.max_deliveries > 0)
    out["RedrivePolicy"] = json{{"deadLetterTargetArn",
                                 queue_arn(c, x.attributes.dead_letter_queue)},
                                {"maxReceiveCount",
                                 x.attributes.max_deliveries}}
                             .dump();
  if (out.empty())
    return {};
  return {{"Attributes", std::move(out)}};
}

bool same_attributes(const call& c, const queue_attributes& x) {
  bool same = true;
  each_attribute([&](const auto& def) {
    if ((c.attribute_fields & def.bit)
        && !(c.attributes.*def.member == x.*def.member))
      same = false;
  });
  return same;
}

queue_attributes sqs_defaults(queue_attributes defaults) {
  defaults.retention = std::chrono::hours{4 * 24};
  // Within SQS's range of MaximumMessageSize.
  defaults.max_message_bytes = std::clamp<uint64_t>(
    defaults.max_message_bytes, 1024, max_sqs_message);
  return defaults;
}

std::string md5_hex(std::string_view x) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(x.data(), x.size(), out, &size, EVP_md5(), nullptr);
  return hex_lower(out, size);
}

std::string attributes_md5(const std::vector<message_attribute>& xs) {
  std::vector<const message_attribute*> sorted;
  for (auto& a : xs)
    sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  std::string buf;
  auto put = [&](std::string_view s) {
    auto n = static_cast<uint32_t>(s.size());
    buf += static_cast<char>(n >> 24);
    buf += static_cast<char>((n >> 16) & 0xFF);
    buf += static_cast<char>((n >> 8) & 0xFF);
    buf += static_cast<char>(n & 0xFF);
    buf += s;
  };
  for (auto* a : sorted) {
    put(a->name);
    put(a->type);
    buf += static_cast<char>(is_binary(a->type) ? 2 : 1);
    put(a->value);
  }
  return md5_hex(buf);
}

} // namespace actormq::http::sqs
