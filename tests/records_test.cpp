#include <catch2/catch.hpp>

#include "actormq/records.hpp"

using namespace actormq;
using namespace actormq::records;

namespace {

template <class T>
T decoded_as(std::string_view key, std::string_view value) {
  auto x = decode(key, value);
  INFO(x.error);
  REQUIRE(x.value);
  REQUIRE(std::holds_alternative<T>(*x.value));
  return std::get<T>(*x.value);
}

message_record sample_message() {
  message_record m;
  m.incarnation = 7;
  m.slot = 300;
  m.id = 42;
  m.priority = -3;
  m.receive_count = 2;
  m.data = payload{R"({"n":1})", payload_kind::json};
  m.enqueued_at = 1'700'000'000'123'456'789;
  m.due = 1'700'000'005'000'000'000;
  m.source = "orders";
  m.group = "customer-7";
  m.data.attributes = {{"blob", "Binary", std::string("\0\xff", 2)},
                       {"trace", "String", "abc"}};
  m.dedup_id = "order-42";
  m.first_received_at = 1'700'000'001'000'000'000;
  m.sender = "orders-app";
  m.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
  return m;
}

} // namespace

TEST_CASE("a message record reads back as written") {
  auto m = sample_message();
  auto x = decoded_as<message_record>(message_key(7, 300), encode(m));
  CHECK(x.incarnation == 7);
  CHECK(x.slot == 300);
  CHECK(x.id == 42);
  CHECK(x.priority == -3);
  CHECK(x.receive_count == 2);
  CHECK(x.data.body == R"({"n":1})");
  CHECK(x.data.kind == payload_kind::json);
  CHECK(x.enqueued_at == m.enqueued_at);
  CHECK(x.due == m.due);
  CHECK(x.source == "orders");
  CHECK(x.group == "customer-7");
  REQUIRE(x.data.attributes.size() == 2);
  CHECK(x.data.attributes[0].name == "blob");
  CHECK(x.data.attributes[0].type == "Binary");
  CHECK(x.data.attributes[0].value == std::string("\0\xff", 2));
  CHECK(x.data.attributes[1].value == "abc");
  CHECK(x.dedup_id == "order-42");
  CHECK(x.first_received_at == m.first_received_at);
  CHECK(x.sender == m.sender);
  CHECK(x.trace_header == m.trace_header);
}

TEST_CASE("a queue record reads back as written") {
  queue_record q;
  q.name = "orders.eu-1";
  q.incarnation = 9;
  q.attributes.visibility = std::chrono::seconds{12};
  q.attributes.max_deliveries = 5;
  q.attributes.dead_letter_queue = "orders.dlq";
  q.attributes.delay = std::chrono::milliseconds{1500};
  q.attributes.retention = std::chrono::hours{24};
  q.attributes.max_depth = 1000;
  q.attributes.max_message_bytes = 4096;
  q.attributes.receive_wait = std::chrono::seconds{20};
  q.attributes.fifo = true;
  q.attributes.content_dedup = true;
  q.attributes.tags = {{"team", "a"}, {"env", ""}};
  auto x = decoded_as<queue_record>(queue_key(q.name), encode(q));
  CHECK(x.name == q.name);
  CHECK(x.incarnation == 9);
  CHECK(x.attributes.visibility == q.attributes.visibility);
  CHECK(x.attributes.max_deliveries == 5);
  CHECK(x.attributes.dead_letter_queue == "orders.dlq");
  CHECK(x.attributes.delay == q.attributes.delay);
  CHECK(x.attributes.retention == q.attributes.retention);
  CHECK(x.attributes.max_depth == 1000);
  CHECK(x.attributes.max_message_bytes == 4096);
  CHECK(x.attributes.receive_wait == std::chrono::seconds{20});
  CHECK(x.attributes.fifo);
  CHECK(x.attributes.content_dedup);
  CHECK(x.attributes.tags
        == std::map<std::string, std::string>{{"env", ""}, {"team", "a"}});
}

TEST_CASE("records of version 1 are still read") {
  // Version 1 had no group and no attributes after max_message_bytes.
  auto m = sample_message();
  m.group.clear();
  m.data.attributes.clear();
  m.dedup_id.clear();
  m.sender.clear();
  m.trace_header.clear();
  auto value = encode(m);
  // Version 2 had no sender and trace header.
  auto message_v2 = value;
  message_v2.resize(message_v2.size() - 4 - 4);
  message_v2[0] = 2;
  auto w = decoded_as<message_record>(message_key(7, 300), message_v2);
  CHECK(w.first_received_at == m.first_received_at);
  CHECK(w.sender.empty());
  // Its group, attribute count, dedup id and first receive, sender and
  // trace header.
  value.resize(value.size() - 4 - 4 - 4 - 8 - 4 - 4);
  value[0] = 1;
  auto x = decoded_as<message_record>(message_key(7, 300), value);
  CHECK(x.id == 42);
  CHECK(x.data.body == R"({"n":1})");
  CHECK(x.source == "orders");
  CHECK(x.group.empty());
  queue_record q{"a", 3, {}};
  q.attributes.max_depth = 77;
  auto qv = encode(q);
  // Its receive wait, fifo and content_dedup flags, and tag count.
  qv.resize(qv.size() - 8 - 1 - 1 - 4);
  qv[0] = 1;
  auto y = decoded_as<queue_record>(queue_key("a"), qv);
  CHECK(y.incarnation == 3);
  CHECK(y.attributes.max_depth == 77);
  CHECK(y.attributes.receive_wait == caf::timespan{0});
  CHECK_FALSE(y.attributes.fifo);
  // Version 2 had no tags.
  q.attributes.fifo = true;
  auto v2 = encode(q);
  v2.resize(v2.size() - 4);
  v2[0] = 2;
  auto z = decoded_as<queue_record>(queue_key("a"), v2);
  CHECK(z.attributes.fifo);
  CHECK(z.attributes.tags.empty());
  // A version 1 record with version 2's fields has bytes left over.
  auto long_one = encode(q);
  long_one[0] = 1;
  CHECK(decode(queue_key("a"), long_one).error == "trailing bytes");
}

TEST_CASE("dedup records, the id mark and the format marker read back") {
  dedup_record d{7, "order-17", 42, 123456789};
  auto x = decoded_as<dedup_record>(dedup_key(7, "order-17"), encode(d));
  CHECK(x.incarnation == 7);
  CHECK(x.dedup_id == "order-17");
  CHECK(x.id == 42);
  CHECK(x.seen_at == 123456789);
  CHECK(decoded_as<id_mark>(id_mark_key(), encode(id_mark{77})).next_id
        == 77);
  CHECK(decoded_as<format_marker>(format_key(), format).value == format);
}

TEST_CASE("keys keep a queue's messages together and in slot order") {
  CHECK(message_key(1, 255) < message_key(1, 256));
  CHECK(message_key(1, ~uint64_t{0}) < message_key(2, 0));
  CHECK(message_key(1, 0) < message_range_end(1));
  CHECK(message_key(1, ~uint64_t{0}) < message_range_end(1));
  CHECK(message_key(2, 0) >= message_range_end(1));
  CHECK(dedup_key(3, "zzz") < dedup_range_end(3));
  CHECK(dedup_key(3, "") >= dedup_range_begin(3));
  CHECK(dedup_key(4, "") >= dedup_range_end(3));
}

TEST_CASE("malformed records are reported, not trusted") {
  auto key = message_key(7, 300);
  auto value = encode(sample_message());
  SECTION("every truncation") {
    for (size_t n = 0; n < value.size(); ++n) {
      INFO(n);
      auto x = decode(key, std::string_view{value}.substr(0, n));
      CHECK_FALSE(x.value);
      CHECK_FALSE(x.error.empty());
    }
  }
  SECTION("trailing bytes") {
    CHECK(decode(key, value + "x").error == "trailing bytes");
  }
  SECTION("an unknown version") {
    value[0] = 9;
    CHECK(decode(key, value).error == "unknown record version 9");
    value[0] = 0;
    CHECK(decode(key, value).error == "unknown record version 0");
  }
  SECTION("an unknown payload kind") {
    value[1 + 8 + 4 + 4] = 7;
    CHECK(decode(key, value).error == "unknown payload kind");
  }
  SECTION("a key of the wrong shape") {
    CHECK_FALSE(decode(key.substr(0, 10), value).value);
    CHECK_FALSE(decode("", value).value);
    CHECK_FALSE(decode("zzz", value).value);
    CHECK_FALSE(decode("q", encode(queue_record{})).value);
    CHECK_FALSE(decode("\x01X", "").value);
  }
  SECTION("a length past the end") {
    auto q = encode(queue_record{"a", 1, {}});
    // The dead-letter queue's length sits after the incarnation, the
    // visibility and max_deliveries.
    q[1 + 8 + 8 + 4 + 3] = '\x7f';
    CHECK(decode(queue_key("a"), q).error == "truncated value");
  }
  SECTION("more attributes than a message may have") {
    auto many = sample_message();
    many.data.attributes.resize(11);
    CHECK(decode(key, encode(many)).error == "more than 10 message attributes");
  }
  SECTION("a flag other than 0 or 1") {
    auto q = encode(queue_record{"a", 1, {}});
    // The fifo flag, before content_dedup's flag and the tag count.
    q[q.size() - 4 - 2] = 2;
    CHECK(decode(queue_key("a"), q).error == "a flag other than 0 or 1");
  }
  SECTION("more tags than a queue may have") {
    queue_record q{"a", 1, {}};
    for (size_t i = 0; i <= max_tags; ++i)
      q.attributes.tags["k" + std::to_string(i)] = "v";
    CHECK(decode(queue_key("a"), encode(q)).error == "more than 50 tags");
  }
  SECTION("a negative duration") {
    auto q = encode(queue_record{"a", 1, {}});
    q[1 + 8 + 7] = '\x80';
    CHECK(decode(queue_key("a"), q).error == "negative duration");
  }
}
