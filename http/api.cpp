#include "api.hpp"

#include <charconv>
#include <chrono>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "actormq/registry_actor.hpp"
#include "attributes.hpp"
#include "text.hpp"

namespace actormq::http {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using parsed = std::variant<api_call, reply>;

constexpr size_t max_batch = 100;
constexpr double max_lease_seconds = std::get<0>(attribute_list).hi;
constexpr double max_delay_seconds = std::get<3>(attribute_list).hi;
constexpr double max_wait_seconds = std::get<7>(attribute_list).hi;

/// Reads the fields of one JSON object, each at most once, and reports the
/// first rule broken (and any field it does not know).
class fields {
public:
  explicit fields(const json& obj) : obj_(obj) {
    // nop
  }

  /// Seconds as a number in [lo, hi]; `out` unchanged if absent.
  bool seconds(const char* name, double lo, double hi, caf::timespan& out) {
    auto x = take(name);
    if (!x)
      return true;
    if (!x->is_number() || x->get<double>() < lo || x->get<double>() > hi
        || !std::isfinite(x->get<double>()))
      return fail(name, "must be a number of seconds from "
                          + number(lo) + " to " + number(hi));
    out = std::chrono::duration_cast<caf::timespan>(
      std::chrono::duration<double>{x->get<double>()});
    return true;
  }

  /// An integer in [lo, hi]; `out` unchanged if absent.
  template <class T>
  bool integer(const char* name, int64_t lo, int64_t hi, T& out) {
    auto x = take(name);
    if (!x)
      return true;
    if (!x->is_number_integer() || x->get<int64_t>() < lo
        || x->get<int64_t>() > hi)
      return fail(name, "must be an integer from " + std::to_string(lo)
                          + " to " + std::to_string(hi));
    out = static_cast<T>(x->get<int64_t>());
    return true;
  }

  /// A string of 1 to `max_len` characters; `out` unchanged if absent.
  bool text(const char* name, size_t max_len, std::string& out,
            bool allow_empty = false) {
    auto x = take(name);
    if (!x)
      return true;
    auto min_len = allow_empty ? 0u : 1u;
    if (!x->is_string() || x->get_ref<const std::string&>().size() < min_len
        || x->get_ref<const std::string&>().size() > max_len)
      return fail(name, "must be a string of " + std::to_string(min_len)
                          + " to " + std::to_string(max_len) + " characters");
    out = x->get<std::string>();
    return true;
  }

  /// A JSON boolean; `out` unchanged if absent.
  bool flag(const char* name, bool& out) {
    auto x = take(name);
    if (!x)
      return true;
    if (!x->is_boolean())
      return fail(name, "must be true or false");
    out = x->get<bool>();
    return true;
  }

  /// The attribute `def` of a queue, by its type and range; `out`
  /// unchanged if absent.
  bool attribute(const attribute_def<caf::timespan>& def, double hi,
                 caf::timespan& out) {
    return seconds(def.name, def.lo, hi, out);
  }
  bool attribute(const attribute_def<std::string>& def, double hi,
                 std::string& out) {
    return text(def.name, static_cast<size_t>(hi), out, true);
  }
  bool attribute(const attribute_def<bool>& def, double, bool& out) {
    return flag(def.name, out);
  }
  bool attribute(const attribute_def<std::map<std::string, std::string>>& def,
                 double, std::map<std::string, std::string>& out) {
    auto x = take(def.name);
    if (!x)
      return true;
    std::map<std::string, std::string> tags;
    if (x->is_object() && x->size() <= max_tags)
      for (auto& [k, v] : x->items())
        if (v.is_string() && valid_tag(k, v.get_ref<const std::string&>()))
          tags[k] = v.get<std::string>();
    if (!x->is_object() || tags.size() != x->size())
      return fail(def.name, "must be an object of at most "
                              + std::to_string(max_tags)
                              + " tags, each a key of 1 to 128 characters "
                                "and a string value of at most 256");
    out = std::move(tags);
    return true;
  }
  template <class T>
  bool attribute(const attribute_def<T>& def, double hi, T& out) {
    // Past 2^63, as doubles are: the largest int64_t.
    auto top = hi >= 9.2e18 ? std::numeric_limits<int64_t>::max()
                            : static_cast<int64_t>(hi);
    return integer(def.name, static_cast<int64_t>(def.lo), top, out);
  }

  /// A message group: 1-128 letters, digits and ASCII punctuation; `out`
  /// unchanged if absent.
  bool group(const char* name, std::string& out) {
    auto x = take(name);
    if (!x)
      return true;
    if (!x->is_string() || !valid_group(x->get_ref<const std::string&>()))
      return fail(name, "must be a string of 1 to 128 letters, digits and "
                        "ASCII punctuation");
    out = x->get<std::string>();
    return true;
  }

  /// A message's attributes: an object that maps each name to
  /// {"type": "String" | "Number" | "Binary" (.label), "value": text, for
  /// a Binary in base64}, by the rules of attribute_problem(); `out`
  /// unchanged if absent.
  bool message_attributes(const char* name,
                          std::vector<message_attribute>& out) {
    auto x = take(name);
    if (!x)
      return true;
    if (!x->is_object())
      return fail(name, "must be an object such as {\"trace\": {\"type\": "
                        "\"String\", \"value\": \"abc\"}}");
    std::vector<message_attribute> result;
    for (auto& [key, spec] : x->items()) {
      auto type = spec.is_object() ? spec.find("type") : spec.end();
      auto value = spec.is_object() ? spec.find("value") : spec.end();
      if (!spec.is_object() || spec.size() != 2 || type == spec.end()
          || value == spec.end() || !type->is_string() || !value->is_string())
        return fail(name, "must map each name to {\"type\": ..., "
                          "\"value\": ...}, both strings");
      message_attribute a{key, type->get<std::string>(),
                          value->get<std::string>()};
      if (is_binary(a.type)) {
        auto bytes = base64_decode(a.value);
        if (!bytes)
          return fail(name, "holds a Binary value that is not base64");
        a.value = std::move(*bytes);
      }
      result.push_back(std::move(a));
    }
    if (auto p = attribute_problem(result))
      return fail(name, "are refused: " + *p);
    out = std::move(result);
    return true;
  }

  /// An array of 1 to max_batch strings.
  bool receipts(std::vector<std::string>& out) {
    auto x = take("receipts");
    if (!x || !x->is_array() || x->empty() || x->size() > max_batch)
      return fail("receipts", "must be an array of 1 to 100 receipts");
    for (auto& r : *x) {
      if (!r.is_string())
        return fail("receipts", "must hold strings");
      out.push_back(r.get<std::string>());
    }
    return true;
  }

  /// Marks a field as read and returns it, if present.
  const json* take(const char* name) {
    known_.emplace_back(name);
    auto i = obj_.find(name);
    return i == obj_.end() ? nullptr : &*i;
  }

  /// Succeeds if every field of the object was read.
  bool done() {
    if (error_)
      return false;
    for (auto& [key, value] : obj_.items()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end())
        return fail(key, "is not a known field");
    }
    return true;
  }

  bool fail(std::string_view field, std::string_view rule) {
    if (!error_)
      error_ = invalid_field_reply(field, rule);
    return false;
  }

  /// The first rule broken.
  reply error() const {
    return *error_;
  }

private:
  static std::string number(double x) {
    auto s = json(x).dump();
    auto dot = s.find(".0");
    return dot != std::string::npos && dot + 2 == s.size() ? s.substr(0, dot)
                                                            : s;
  }

  const json& obj_;
  std::vector<std::string> known_;
  std::optional<reply> error_;
};

/// Reads a JSON body that may be empty (then it is `{}`).
std::variant<json, problem> optional_object(const route_input& in) {
  if (in.body.empty())
    return json::object();
  auto media = in.content_type.substr(0, in.content_type.find(';'));
  while (!media.empty() && media.back() == ' ')
    media.remove_suffix(1);
  if (!iequals(media, "application/json") && !media.empty())
    return problem::unsupported_media_type;
  return parse_object(in.body);
}

bool read_message(const json& obj, new_message& out, reply& err) {
  if (!obj.is_object()) {
    err = invalid_field_reply("messages", "must hold objects such as "
                                          "{\"message\": \"hello\"}");
    return false;
  }
  auto value = to_payload(obj);
  if (auto p = std::get_if<problem>(&value)) {
    err = problem_reply(*p);
    return false;
  }
  out.data = std::move(std::get<payload>(value));
  fields f{obj};
  f.take("message");
  f.seconds("delay_seconds", 0, max_delay_seconds, out.delay);
  f.integer("priority", std::numeric_limits<int32_t>::min(),
            std::numeric_limits<int32_t>::max(), out.priority);
  f.text("dedup_id", 128, out.dedup_id);
  f.group("group", out.group);
  f.message_attributes("attributes", out.data.attributes);
  if (!f.done()) {
    err = f.error();
    return false;
  }
  return true;
}

parsed parse_enqueue_call(api_call call, const json& body) {
  reply err;
  if (auto batch = body.find("messages"); batch != body.end()) {
    if (body.size() != 1 || !batch->is_array() || batch->empty()
        || batch->size() > max_batch)
      return invalid_field_reply("messages",
                                 "must be an array of 1 to 100 messages, "
                                 "alone in the body");
    call.batch = true;
    for (auto& x : *batch) {
      new_message m;
      if (!read_message(x, m, err))
        return err;
      call.messages.push_back(std::move(m));
    }
    return call;
  }
  new_message m;
  if (!read_message(body, m, err))
    return err;
  call.messages.push_back(std::move(m));
  return call;
}

parsed parse_attributes(api_call call, const json& body,
                        const api_limits& limits) {
  auto& a = call.attributes;
  a = limits.defaults;
  fields f{body};
  each_attribute([&](const auto& def) {
    if (body.contains(def.name))
      call.attribute_fields |= def.bit;
    auto hi = def.bit == attribute_field::max_message_bytes
                ? static_cast<double>(limits.max_message_bytes)
                : def.hi;
    f.attribute(def, hi, a.*def.member);
  });
  if (!f.done())
    return f.error();
  return call;
}

/// Parses the body of a queue-scoped POST.
parsed parse_queue_post(api_call call, const json& body) {
  fields f{body};
  switch (call.kind) {
    case op::enqueue:
      return parse_enqueue_call(std::move(call), body);
    case op::receive:
      f.integer("max", 1, max_batch, call.max);
      f.seconds("wait_seconds", 0, max_wait_seconds, call.wait);
      f.seconds("visibility_seconds", 0.001, max_lease_seconds,
                call.visibility);
      break;
    case op::ack:
      f.receipts(call.receipts);
      break;
    case op::release:
      f.receipts(call.receipts);
      f.seconds("delay_seconds", 0, max_delay_seconds, call.delay);
      break;
    case op::extend:
      f.receipts(call.receipts);
      if (!f.take("visibility_seconds"))
        f.fail("visibility_seconds", "is required");
      f.seconds("visibility_seconds", 0, max_lease_seconds, call.visibility);
      break;
    default:
      break;
  }
  if (!f.done())
    return f.error();
  return call;
}

/// One route: a method, a path pattern whose `{q}` segment names a queue,
/// and the operation.
struct route {
  verb method;
  std::string_view pattern;
  op kind;
};

/// The routes of the API: routing, 404 against 405 (and its Allow list)
/// and HEAD all come from this one table.
constexpr route routes[] = {
  {verb::get, "/healthz", op::healthz},
  {verb::post, "/enqueue", op::enqueue_compat},
  {verb::get, "/metrics", op::metrics},
  {verb::get, "/queues", op::list_queues},
  {verb::get, "/queues/{q}", op::get_queue},
  {verb::put, "/queues/{q}", op::put_queue},
  {verb::del, "/queues/{q}", op::delete_queue},
  {verb::post, "/queues/{q}/messages", op::enqueue},
  {verb::post, "/queues/{q}/receive", op::receive},
  {verb::post, "/queues/{q}/ack", op::ack},
  {verb::post, "/queues/{q}/release", op::release},
  {verb::post, "/queues/{q}/extend", op::extend},
  {verb::get, "/queues/{q}/peek", op::peek},
  {verb::post, "/queues/{q}/purge", op::purge},
  {verb::post, "/queues/{q}/redrive", op::redrive},
};

/// The method names of the Allow header, in its order.
constexpr std::pair<verb, std::string_view> allow_order[] = {
  {verb::get, "GET"},   {verb::head, "HEAD"},     {verb::post, "POST"},
  {verb::put, "PUT"},   {verb::del, "DELETE"},    {verb::options, "OPTIONS"},
};

/// The next segment of `path` (after its '/'), removed from it.
std::string_view next_segment(std::string_view& path) {
  path.remove_prefix(1);
  auto end = std::min(path.find('/'), path.size());
  auto result = path.substr(0, end);
  path.remove_prefix(end);
  return result;
}

/// Whether `path` matches `pattern`; sets `queue` to its `{q}` segment.
bool path_matches(std::string_view path, std::string_view pattern,
                  std::string& queue) {
  if (path.size() > 1 && path.back() == '/')
    path.remove_suffix(1);
  while (!pattern.empty()) {
    if (path.empty() || path.front() != '/')
      return false;
    auto want = next_segment(pattern);
    auto got = next_segment(path);
    if (want == "{q}") {
      if (got.empty())
        return false;
      queue = std::string{got};
    } else if (!iequals(want, got)) {
      return false;
    }
  }
  return path.empty();
}

/// Reads `max=n` (1-100) from a query string; 1 if absent.
bool query_max(std::string_view query, uint32_t& out) {
  while (!query.empty()) {
    auto pair = take_until(query, '&');
    if (pair.substr(0, 4) != "max=")
      continue;
    auto value = pair.substr(4);
    uint32_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(),
                                     n);
    if (ec != std::errc{} || ptr != value.data() + value.size() || n < 1
        || n > max_batch)
      return false;
    out = n;
  }
  return true;
}

double epoch_seconds(time_point t, time_point now) {
  using namespace std::chrono;
  auto age = duration_cast<system_clock::duration>(now - t);
  auto wall = system_clock::now() - age;
  return duration<double>(wall.time_since_epoch()).count();
}

double seconds_of(caf::timespan x) {
  return std::chrono::duration<double>(x).count();
}

ordered_json message_json(const message& m, time_point now) {
  ordered_json out;
  out["id"] = m.id;
  if (m.data.kind == payload_kind::text)
    out["message"] = m.data.body;
  else
    out["message"] = ordered_json::parse(m.data.body);
  out["priority"] = m.priority;
  out["receive_count"] = m.receive_count;
  out["enqueued_at"] = epoch_seconds(m.enqueued_at, now);
  if (!m.group.empty())
    out["group"] = m.group;
  if (!m.dedup_id.empty())
    out["dedup_id"] = m.dedup_id;
  if (m.first_received_at != time_point{})
    out["first_received_at"] = epoch_seconds(m.first_received_at, now);
  if (!m.data.attributes.empty()) {
    auto& attrs = out["attributes"];
    for (auto& a : m.data.attributes)
      attrs[a.name] = {{"type", a.type},
                       {"value", is_binary(a.type)
                                   ? base64_encode(a.value)
                                   : a.value}};
  }
  return out;
}

/// An attribute's value as JSON: a duration in seconds, else as it is.
ordered_json attribute_json(caf::timespan x) {
  return seconds_of(x);
}
template <class T>
ordered_json attribute_json(const T& x) {
  return x;
}

ordered_json attributes_json(const queue_attributes& a) {
  auto out = ordered_json::object();
  each_attribute([&](const auto& def) {
    out[def.name] = attribute_json(a.*def.member);
  });
  return out;
}

/// A counter's value as JSON (a duration in seconds) and as a metric.
double stat_value(caf::timespan x) {
  return seconds_of(x);
}
double stat_value(uint64_t x) {
  return static_cast<double>(x);
}

ordered_json stats_json(const queue_stats& s) {
  auto out = ordered_json::object();
  each_stat([&](const auto& def) {
    out[def.name] = attribute_json(s.*def.member);
  });
  return out;
}

ordered_json info_json(const queue_info& x) {
  ordered_json out{{"name", x.name}};
  if (!x.node.empty())
    out["node"] = x.node;
  out["attributes"] = attributes_json(x.attributes);
  out["stats"] = stats_json(x.stats);
  return out;
}

reply ok(const ordered_json& body) {
  return {200, body.dump()};
}

} // namespace

route_match match_route(verb method, std::string_view path) {
  route_match result;
  auto wanted = method == verb::head ? verb::get : method;
  bool allowed[std::size(allow_order)] = {};
  for (auto& r : routes) {
    std::string queue;
    if (!path_matches(path, r.pattern, queue))
      continue;
    if (r.method == wanted) {
      result.result = route_match::outcome::found;
      result.kind = r.kind;
      // The original's POST /enqueue: the queue named "default".
      result.queue = r.kind == op::enqueue_compat ? "default"
                                                  : std::move(queue);
      return result;
    }
    result.result = route_match::outcome::no_method;
    for (size_t i = 0; i < std::size(allow_order); ++i)
      allowed[i] = allowed[i] || allow_order[i].first == r.method
                   || (allow_order[i].first == verb::head
                       && r.method == verb::get)
                   || allow_order[i].first == verb::options;
  }
  for (size_t i = 0; i < std::size(allow_order); ++i) {
    if (!allowed[i])
      continue;
    if (!result.allow.empty())
      result.allow += ", ";
    result.allow += allow_order[i].second;
  }
  return result;
}

std::optional<auth::action> needed_grant(op kind) {
  switch (kind) {
    case op::healthz:
    case op::list_queues:
      return std::nullopt;
    case op::enqueue_compat:
    case op::enqueue:
      return auth::action::send;
    case op::receive:
    case op::ack:
    case op::release:
    case op::extend:
    case op::peek:
      return auth::action::receive;
    case op::put_queue:
    case op::get_queue:
    case op::delete_queue:
    case op::purge:
    case op::redrive:
      return auth::action::manage;
    case op::metrics:
      return auth::action::metrics;
  }
  return auth::action::manage;
}

reply method_not_allowed_reply(const route_match& m) {
  auto r = problem_reply(problem::method_not_allowed);
  r.headers = "Allow: " + m.allow + "\r\n";
  return r;
}

parsed parse_call(const route_match& m, const route_input& in,
                  const api_limits& limits) {
  api_call call;
  call.kind = m.kind;
  call.queue = m.queue;
  if (m.kind == op::enqueue_compat) {
    auto body = parse_enqueue(in.content_type, in.body);
    if (auto p = std::get_if<problem>(&body))
      return problem_reply(*p);
    call.messages.emplace_back().data = std::move(std::get<payload>(body));
    return call;
  }
  if (!call.queue.empty() && !valid_queue_name(call.queue))
    return problem_reply(problem::invalid_queue_name);
  switch (m.kind) {
    case op::healthz:
    case op::metrics:
    case op::list_queues:
    case op::get_queue:
    case op::delete_queue:
      return call;
    case op::peek:
      if (!query_max(in.query, call.max))
        return invalid_field_reply("max", "must be an integer from 1 to 100");
      return call;
    default:
      break;
  }
  auto body = optional_object(in);
  if (auto p = std::get_if<problem>(&body))
    return problem_reply(*p);
  if (m.kind == op::put_queue)
    return parse_attributes(std::move(call), std::get<json>(body), limits);
  return parse_queue_post(std::move(call), std::get<json>(body));
}

reply enqueue_reply(op kind, bool batch, const std::vector<uint64_t>& ids) {
  if (kind == op::enqueue_compat)
    return enqueued_reply(ids.front());
  if (batch)
    return ok({{"ids", ids}});
  return ok({{"id", ids.front()}});
}

reply leases_reply(const std::vector<lease>& xs, time_point now) {
  auto arr = ordered_json::array();
  for (auto& x : xs) {
    auto m = message_json(x.msg, now);
    m["receipt"] = x.receipt;
    m["lease_seconds"] = seconds_of(x.expires - now);
    arr.push_back(std::move(m));
  }
  return ok({{"messages", std::move(arr)}});
}

reply messages_reply(const std::vector<message>& xs, time_point now) {
  auto arr = ordered_json::array();
  for (auto& x : xs)
    arr.push_back(message_json(x, now));
  return ok({{"messages", std::move(arr)}});
}

reply receipts_reply(const std::vector<std::string>& receipts,
                     const std::vector<caf::error>& results) {
  auto arr = ordered_json::array();
  for (size_t i = 0; i < receipts.size() && i < results.size(); ++i) {
    ordered_json r{{"receipt", receipts[i]}};
    if (results[i]) {
      r["ok"] = false;
      r["error"] = json::parse(problem_reply(to_problem(results[i])).body)
                     .at("error");
    } else {
      r["ok"] = true;
    }
    arr.push_back(std::move(r));
  }
  return ok({{"results", std::move(arr)}});
}

reply queue_reply(const queue_info& x) {
  return ok(info_json(x));
}

reply queues_reply(const std::vector<queue_info>& xs) {
  auto arr = ordered_json::array();
  for (auto& x : xs)
    arr.push_back(info_json(x));
  return ok({{"queues", std::move(arr)}});
}

reply count_reply(std::string_view field, uint64_t n) {
  return ok({{std::string{field}, n}});
}

reply deleted_reply(const std::string& name) {
  return ok({{"deleted", name}});
}

reply metrics_reply(const std::vector<queue_info>& xs,
                    const std::vector<link_info>& links) {
  std::string out;
  each_stat([&](const auto& def) {
    out += "# HELP ";
    out += def.metric;
    out += ' ';
    out += def.help;
    out += "\n# TYPE ";
    out += def.metric;
    out += ' ';
    out += def.metric_type;
    out += '\n';
    for (auto& x : xs) {
      out += def.metric;
      out += "{queue=\"" + x.name + "\"";
      if (!x.node.empty())
        out += ",node=\"" + x.node + "\"";
      out += "} ";
      auto v = stat_value(x.stats.*def.member);
      out += v == std::floor(v) ? std::to_string(static_cast<uint64_t>(v))
                                : json(v).dump();
      out += '\n';
    }
  });
  if (!links.empty()) {
    struct gauge {
      const char* name;
      const char* type;
      const char* help;
      uint64_t (*value)(const link_info&);
    };
    const gauge gauges[] = {
      {"actormq_cluster_link_up", "gauge",
       "1 while the link to the peer is up (its queues are served)",
       [](const link_info& l) -> uint64_t { return l.up ? 1 : 0; }},
      {"actormq_cluster_link_in_flight", "gauge",
       "requests of the cluster actor (lookups, lists, creates) on their "
       "way to the peer",
       [](const link_info& l) { return l.in_flight; }},
      {"actormq_cluster_link_losses_total", "counter",
       "times the link to the peer was lost",
       [](const link_info& l) { return l.losses; }},
    };
    for (auto& g : gauges) {
      out += std::string{"# HELP "} + g.name + " " + g.help + "\n# TYPE "
             + g.name + " " + g.type + "\n";
      for (auto& l : links)
        out += std::string{g.name} + "{peer=\"" + l.peer + "\"} "
               + std::to_string(g.value(l)) + "\n";
    }
  }
  return {200, std::move(out), {}, "text/plain; version=0.0.4"};
}

} // namespace actormq::http
