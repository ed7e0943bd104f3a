#include "actormq/errors.hpp"

#include <caf/message_view.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>

#include "actormq/log.hpp"

namespace actormq {

caf::error make_error(ec x) {
  return {static_cast<uint8_t>(x), error_category};
}

std::string to_string(ec x) {
  switch (x) {
    case ec::message_required:
      return "message_required";
    case ec::message_too_large:
      return "message_too_large";
    case ec::queue_full:
      return "queue_full";
    case ec::invalid_receipt:
      return "invalid_receipt";
    case ec::stale_receipt:
      return "stale_receipt";
    case ec::invalid_queue_name:
      return "invalid_queue_name";
    case ec::unknown_queue:
      return "unknown_queue";
    case ec::invalid_attributes:
      return "invalid_attributes";
    case ec::out_of_memory:
      return "out_of_memory";
    case ec::storage_failed:
      return "storage_failed";
    case ec::group_required:
      return "group_required";
    case ec::fifo_forbids:
      return "fifo_forbids";
    case ec::fifo_fixed:
      return "fifo_fixed";
    case ec::too_many_attributes:
      return "too_many_attributes";
    case ec::node_unreachable:
      return "node_unreachable";
    case ec::node_busy:
      return "node_busy";
  }
  return "unknown";
}

bool is_actormq_error(const caf::error& x, ec& code) {
  if (x.category() != error_category)
    return false;
  code = static_cast<ec>(x.code());
  return true;
}

bool is_error(const caf::error& x, ec code) {
  return x.category() == error_category && static_cast<ec>(x.code()) == code;
}

} // namespace actormq

namespace actormq {

caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self,
                                          caf::message_view& x) {
  log::warning(std::string{self->name()} + " dropped an unexpected message: "
               + caf::to_string(x.content()));
  return caf::sec::unexpected_message;
}

} // namespace actormq
