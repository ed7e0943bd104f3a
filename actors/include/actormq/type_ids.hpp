#pragma once

#include <string>
#include <utility>
#include <vector>

#include <caf/type_id.hpp>

#include "actormq/actors.hpp"
#include "actormq/cluster.hpp"

// Every type that crosses nodes, by a stable name (the type as written
// here): registered by add_cluster_types() on every node and client. A
// change here is a change of cluster_protocol_version. Types inside these
// (payload, message_attribute, ...) travel through their inspect().
CAF_BEGIN_TYPE_ID_BLOCK(actormq, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(actormq, (actormq::new_message))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::new_message>))
  CAF_ADD_TYPE_ID(actormq, (std::vector<uint64_t>))
  CAF_ADD_TYPE_ID(actormq, (std::vector<caf::error>))
  CAF_ADD_TYPE_ID(actormq, (actormq::enqueue_results))
  CAF_ADD_TYPE_ID(actormq, (actormq::message))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::message>))
  CAF_ADD_TYPE_ID(actormq, (actormq::lease))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::lease>))
  CAF_ADD_TYPE_ID(actormq, (actormq::moved_message))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::moved_message>))
  CAF_ADD_TYPE_ID(actormq, (std::pair<std::string, actormq::moved_message>))
  CAF_ADD_TYPE_ID(actormq,
                  (std::vector<std::pair<std::string, actormq::moved_message>>))
  CAF_ADD_TYPE_ID(actormq, (actormq::queue_attributes))
  CAF_ADD_TYPE_ID(actormq, (actormq::queue_stats))
  CAF_ADD_TYPE_ID(actormq, (actormq::queue_info))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::queue_info>))
  CAF_ADD_TYPE_ID(actormq, (actormq::member))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::member>))
  CAF_ADD_TYPE_ID(actormq, (actormq::link_info))
  CAF_ADD_TYPE_ID(actormq, (std::vector<actormq::link_info>))
  CAF_ADD_TYPE_ID(actormq, (actormq::dead_letter_sink))
  CAF_ADD_TYPE_ID(actormq, (actormq::queue_actor))
  CAF_ADD_TYPE_ID(actormq, (actormq::queue_locator))
  CAF_ADD_TYPE_ID(actormq, (actormq::registry_actor))
  CAF_ADD_TYPE_ID(actormq, (actormq::node_actor))

CAF_END_TYPE_ID_BLOCK(actormq)
