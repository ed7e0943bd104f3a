#include "actormq/records.hpp"

#include <cstring>
#include <limits>
#include <type_traits>

namespace actormq::records {

namespace {

constexpr uint8_t version = current_version;

constexpr char format_prefix = '\x01';
constexpr char format_tag = 'V';
constexpr char id_mark_tag = 'N';
constexpr char queue_prefix = 'q';
constexpr char message_prefix = 'm';
constexpr char dedup_prefix = 'd';

void put_be64(std::string& out, uint64_t x) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((x >> shift) & 0xff));
}

uint64_t get_be64(std::string_view in) {
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

std::string incarnation_prefix(char kind, uint64_t incarnation) {
  std::string key(1, kind);
  put_be64(key, incarnation);
  return key;
}

/// Returns the first key past every key of `kind` and `incarnation`.
std::string range_end(char kind, uint64_t incarnation) {
  if (incarnation == std::numeric_limits<uint64_t>::max())
    return std::string(1, static_cast<char>(kind + 1));
  return incarnation_prefix(kind, incarnation + 1);
}

/// Appends little-endian integers and length-prefixed strings.
class writer {
public:
  writer() {
    out_.push_back(static_cast<char>(version));
  }

  template <class T>
  writer& num(T x) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    auto u = static_cast<U>(x);
    for (size_t i = 0; i < sizeof(T); ++i)
      out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    return *this;
  }

  writer& str(std::string_view x) {
    num(static_cast<uint32_t>(x.size()));
    out_.append(x);
    return *this;
  }

  writer& span(caf::timespan x) {
    return num(static_cast<int64_t>(x.count()));
  }

  /// Writes an attribute of the type it has.
  writer& field(caf::timespan x) {
    return span(x);
  }
  writer& field(const std::string& x) {
    return str(x);
  }
  writer& field(bool x) {
    return num(static_cast<uint8_t>(x ? 1 : 0));
  }
  writer& field(const std::map<std::string, std::string>& xs) {
    num(static_cast<uint32_t>(xs.size()));
    for (auto& [k, v] : xs)
      str(k).str(v);
    return *this;
  }
  template <class T>
  writer& field(T x) {
    return num(x);
  }

  uint8_t written_version() const {
    return version;
  }

  std::string take() {
    return std::move(out_);
  }

private:
  std::string out_;
};

/// Reads what `writer` wrote; after the first failure every read fails.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {
    if (num(version_).error_.empty()
        && (version_ == 0 || version_ > version))
      fail("unknown record version " + std::to_string(version_));
  }

  /// The version of the record read.
  uint8_t written_version() const {
    return version_;
  }

  template <class T>
  reader& num(T& x) {
    static_assert(std::is_integral_v<T>);
    if (!take(sizeof(T)))
      return *this;
    using U = std::make_unsigned_t<T>;
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<U>(static_cast<uint8_t>(in_[pos_ - sizeof(T) + i]))
           << (8 * i);
    x = static_cast<T>(u);
    return *this;
  }

  reader& str(std::string& x) {
    uint32_t n = 0;
    if (num(n).take(n))
      x.assign(in_.data() + pos_ - n, n);
    return *this;
  }

  reader& span(caf::timespan& x) {
    int64_t n = 0;
    if (!num(n).error_.empty())
      return *this;
    if (n < 0)
      fail("negative duration");
    else
      x = caf::timespan{n};
    return *this;
  }

  /// Reads an attribute of the type it has.
  reader& field(caf::timespan& x) {
    return span(x);
  }
  reader& field(std::string& x) {
    return str(x);
  }
  reader& field(bool& x) {
    uint8_t n = 0;
    if (num(n).error_.empty() && n > 1)
      fail("a flag other than 0 or 1");
    x = n == 1;
    return *this;
  }
  reader& field(std::map<std::string, std::string>& xs) {
    uint32_t n = 0;
    if (!num(n).error_.empty())
      return *this;
    if (n > max_tags) {
      fail("more than " + std::to_string(max_tags) + " tags");
      return *this;
    }
    for (uint32_t i = 0; i < n && error_.empty(); ++i) {
      std::string k;
      std::string v;
      str(k).str(v);
      xs[std::move(k)] = std::move(v);
    }
    return *this;
  }
  template <class T>
  reader& field(T& x) {
    return num(x);
  }

  void fail(std::string why) {
    if (error_.empty())
      error_ = std::move(why);
  }

  /// Returns the error, checking first that nothing is left over.
  std::string finish() {
    if (error_.empty() && pos_ != in_.size())
      error_ = "trailing bytes";
    return std::move(error_);
  }

private:
  bool take(size_t n) {
    if (!error_.empty())
      return false;
    if (in_.size() - pos_ < n) {
      fail("truncated value");
      return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  uint8_t version_ = 0;
  std::string error_;
};

/// The fields of a queue record after its version byte, in order: one list
/// for encode() (a writer) and decode() (a reader). The attributes are
/// attribute_list's, each from the version that added it.
template <class Codec, class Queue>
Codec& queue_fields(Codec& c, Queue& x) {
  c.num(x.incarnation);
  each_attribute([&](const auto& def) {
    if (def.since <= c.written_version())
      c.field(x.attributes.*def.member);
  });
  return c;
}

/// The fields of a message record after its version byte, in order (see
/// queue_fields).
template <class Codec, class Message>
Codec& message_fields(Codec& c, Message& x, uint8_t& kind) {
  c.num(x.id)
    .num(x.priority)
    .num(x.receive_count)
    .num(kind)
    .num(x.enqueued_at)
    .num(x.due)
    .str(x.source)
    .str(x.data.body);
  if (c.written_version() < 2)
    return c;
  c.str(x.group);
  auto n = static_cast<uint32_t>(x.data.attributes.size());
  c.num(n);
  if constexpr (!std::is_const_v<Message>) {
    if (n > max_message_attributes) {
      c.fail("more than " + std::to_string(max_message_attributes)
             + " message attributes");
      return c;
    }
    x.data.attributes.resize(n);
  }
  for (auto& a : x.data.attributes)
    c.str(a.name).str(a.type).str(a.value);
  c.str(x.dedup_id).num(x.first_received_at);
  if (c.written_version() < 3)
    return c;
  return c.str(x.sender).str(x.trace_header);
}

decoded done(reader& r, record x) {
  auto err = r.finish();
  if (!err.empty())
    return {std::nullopt, std::move(err)};
  return {std::move(x), {}};
}

decoded failed(std::string why) {
  return {std::nullopt, std::move(why)};
}

decoded decode_queue(std::string_view name, std::string_view value) {
  queue_record x;
  x.name = std::string{name};
  if (name.empty())
    return failed("queue key without a name");
  reader r{value};
  queue_fields(r, x);
  return done(r, std::move(x));
}

decoded decode_message(std::string_view key, std::string_view value) {
  if (key.size() != 16)
    return failed("message key of the wrong size");
  message_record x;
  x.incarnation = get_be64(key);
  x.slot = get_be64(key.substr(8));
  reader r{value};
  uint8_t kind = 0;
  message_fields(r, x, kind);
  if (kind > static_cast<uint8_t>(payload_kind::json))
    r.fail("unknown payload kind");
  else if (x.id == 0)
    r.fail("message id 0");
  x.data.kind = static_cast<payload_kind>(kind);
  return done(r, std::move(x));
}

decoded decode_dedup(std::string_view key, std::string_view value) {
  if (key.size() < 8)
    return failed("dedup key too short");
  dedup_record x;
  x.incarnation = get_be64(key);
  x.dedup_id = std::string{key.substr(8)};
  reader r{value};
  r.num(x.id).num(x.seen_at);
  return done(r, std::move(x));
}

} // namespace

std::string format_key() {
  return {format_prefix, format_tag};
}

std::string id_mark_key() {
  return {format_prefix, id_mark_tag};
}

std::string queue_key(std::string_view name) {
  std::string key(1, queue_prefix);
  key.append(name);
  return key;
}

std::string message_key(uint64_t incarnation, uint64_t slot) {
  auto key = incarnation_prefix(message_prefix, incarnation);
  put_be64(key, slot);
  return key;
}

std::string message_range_end(uint64_t incarnation) {
  return range_end(message_prefix, incarnation);
}

std::string dedup_key(uint64_t incarnation, std::string_view dedup_id) {
  auto key = incarnation_prefix(dedup_prefix, incarnation);
  key.append(dedup_id);
  return key;
}

std::string dedup_range_begin(uint64_t incarnation) {
  return incarnation_prefix(dedup_prefix, incarnation);
}

std::string dedup_range_end(uint64_t incarnation) {
  return range_end(dedup_prefix, incarnation);
}

std::string encode(const queue_record& x) {
  writer w;
  return queue_fields(w, x).take();
}

std::string encode(const message_record& x) {
  writer w;
  auto kind = static_cast<uint8_t>(x.data.kind);
  return message_fields(w, x, kind).take();
}

std::string encode(const dedup_record& x) {
  return writer{}.num(x.id).num(x.seen_at).take();
}

std::string encode(const id_mark& x) {
  return writer{}.num(x.next_id).take();
}

decoded decode(std::string_view key, std::string_view value) {
  if (key.empty())
    return failed("empty key");
  auto rest = key.substr(1);
  switch (key.front()) {
    case format_prefix:
      if (rest.size() == 1 && rest.front() == format_tag)
        return {format_marker{std::string{value}}, {}};
      if (rest.size() == 1 && rest.front() == id_mark_tag) {
        id_mark x;
        reader r{value};
        r.num(x.next_id);
        return done(r, x);
      }
      return failed("unknown metadata key");
    case queue_prefix:
      return decode_queue(rest, value);
    case message_prefix:
      return decode_message(rest, value);
    case dedup_prefix:
      return decode_dedup(rest, value);
    default:
      return failed("unknown key kind");
  }
}

} // namespace actormq::records
