#include "actormq/message_queue.hpp"

#include "actormq/errors.hpp"

namespace actormq {

message_queue::message_queue(size_t max_message_bytes)
  : max_message_bytes_(max_message_bytes) {
  // nop
}

caf::expected<uint64_t> message_queue::push(payload x) {
  if (x.body.empty())
    return make_error(ec::message_required);
  if (x.body.size() > max_message_bytes_)
    return make_error(ec::message_too_large);
  auto id = next_id_++;
  stats_.depth += 1;
  stats_.bytes += x.body.size();
  stats_.enqueued += 1;
  messages_.push_back(message{id, std::move(x)});
  return id;
}

caf::optional<message> message_queue::pop() {
  if (messages_.empty())
    return caf::none;
  auto result = std::move(messages_.front());
  messages_.pop_front();
  stats_.depth -= 1;
  stats_.bytes -= result.data.body.size();
  stats_.dequeued += 1;
  return result;
}

} // namespace actormq
