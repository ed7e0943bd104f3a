#include "actormq/storage_actor.hpp"

#include <algorithm>
#include <utility>

#include "actormq/errors.hpp"
#include "answer.hpp"
#include "actormq/log.hpp"
#include "actormq/records.hpp"

namespace actormq {

namespace {

using self_ptr = storage_actor::stateful_pointer<storage_state>;

using promises = std::vector<caf::typed_response_promise<atom::ok>>;

void set_healthy(self_ptr self, bool x) {
  auto& h = self->state.cfg.healthy;
  if (h && h->exchange(x) != x)
    log::info(x ? "storage: writes succeed again"
                : "storage: writes fail; answering 507 until they succeed");
}

bool healthy(self_ptr self) {
  auto& h = self->state.cfg.healthy;
  return !h || h->load();
}

/// Schedules the next tick if a sync or a probe is due and none is.
void arm(self_ptr self) {
  auto& st = self->state;
  auto sync_due = st.cfg.mode == fsync_mode::interval && st.unsynced;
  if (st.timer_armed || (!sync_due && healthy(self)))
    return;
  st.timer_armed = true;
  self->delayed_send(self, healthy(self) ? st.cfg.sync_interval
                                         : st.cfg.probe_interval,
                     atom::tick::value);
}

void deliver(promises& ps, const caf::error& err) {
  for (auto& p : ps) {
    if (err)
      p.deliver(err);
    else
      p.deliver(atom::ok::value);
  }
}

/// Has what is pending written once the messages already in the mailbox
/// are handled: the writes among them join the same batch, and so do those
/// that arrive while a write blocks (group commit).
void commit_later(self_ptr self) {
  auto& st = self->state;
  if (st.commit_sent)
    return;
  st.commit_sent = true;
  self->send(self, atom::commit::value);
}

/// After a failed store call: logs it (as an error when the store was
/// healthy, later failures at debug level) and marks the store failing, so
/// that arm() has it probed until it works again. Nothing else is asked of
/// the store until a probe has it resume (see rocksdb_store).
caf::error failed(self_ptr self, const char* what, const std::string& why) {
  log::write(healthy(self) ? log::level::error : log::level::debug,
             std::string{"storage: "} + what + " failed: " + why);
  set_healthy(self, false);
  return make_error(ec::storage_failed);
}

/// Writes everything pending in one batch (with the id mark), syncs for
/// the callers of flush and when an interval sync is due, then answers.
/// A probe first has a failing store resume, then writes even if nothing
/// is pending. Blocks on the disk: the actor runs on a thread of its own.
void commit(self_ptr self) {
  auto& st = self->state;
  st.commit_sent = false;
  auto ops = std::exchange(st.pending, {});
  auto waiting = std::exchange(st.waiting, {});
  auto flushing = std::exchange(st.flushing, {});
  auto probe = std::exchange(st.probe, false);
  caf::error err;
  if (probe) {
    if (auto why = st.cfg.db->resume(); !why.empty())
      err = failed(self, "resume", why);
  }
  if (!err && (!waiting.empty() || probe)) {
    auto mark = st.cfg.ids ? st.cfg.ids->load() : 0;
    if (mark > st.id_mark)
      ops.push_back(store_op{store_op::kind::put, records::id_mark_key(),
                             records::encode(records::id_mark{mark})});
    auto synced = st.cfg.mode == fsync_mode::always;
    if (auto why = st.cfg.db->write(ops, synced); !why.empty()) {
      err = failed(self, "write", why);
    } else {
      st.id_mark = std::max(st.id_mark, mark);
      st.unsynced = st.unsynced || !synced;
      set_healthy(self, true);
    }
  }
  if (!err && (!flushing.empty() || (st.sync_due && st.unsynced))) {
    if (auto why = st.cfg.db->sync(); !why.empty())
      err = failed(self, "sync", why);
    else
      st.unsynced = false;
  }
  st.sync_due = false;
  deliver(waiting, err);
  deliver(flushing, err);
  arm(self);
}

/// Returns the records of one queue incarnation as puts. Reads the whole
/// store: a queue restarts rarely.
caf::result<store_batch> read_incarnation(self_ptr self,
                                          uint64_t incarnation) {
  using namespace records;
  auto in = [](std::string_view key, const std::string& begin,
               const std::string& end) { return key >= begin && key < end; };
  auto messages = message_key(incarnation, 0);
  auto messages_end = message_range_end(incarnation);
  auto dedup = dedup_range_begin(incarnation);
  auto dedup_end = dedup_range_end(incarnation);
  store_batch result;
  auto why = self->state.cfg.db->scan([&](std::string_view key,
                                          std::string_view value) {
    if (in(key, messages, messages_end) || in(key, dedup, dedup_end))
      result.push_back(store_op{store_op::kind::put, std::string{key},
                                std::string{value}});
  });
  if (!why.empty()) {
    log::error("storage: reading a queue back failed: " + why);
    return make_error(ec::storage_failed);
  }
  return result;
}

/// The actor ends for `reason`: at a shutdown the writes it took in are
/// written and answered; otherwise they are answered as not done.
void end(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  if (reason == caf::exit_reason::user_shutdown) {
    commit(self);
    return;
  }
  auto err = caf::make_error(caf::sec::request_receiver_down);
  st.pending.clear();
  deliver(st.waiting, err);
  deliver(st.flushing, err);
  st.waiting.clear();
  st.flushing.clear();
}

} // namespace

storage_actor::behavior_type
storage(storage_actor::stateful_pointer<storage_state> self,
        storage_config cfg) {
  self->set_default_handler(drop_unexpected);
  answer_on_exit(self, "storage: a handler threw",
                 [=](const caf::error& reason) { end(self, reason); });
  self->state.cfg = std::move(cfg);
  return {
    [=](atom::write, store_batch& ops) -> caf::result<atom::ok> {
      auto& st = self->state;
      auto rp = self->make_response_promise<atom::ok>();
      std::move(ops.begin(), ops.end(), std::back_inserter(st.pending));
      st.waiting.push_back(rp);
      commit_later(self);
      return rp;
    },
    [=](atom::flush) -> caf::result<atom::ok> {
      auto rp = self->make_response_promise<atom::ok>();
      self->state.flushing.push_back(rp);
      commit_later(self);
      return rp;
    },
    [=](atom::get, uint64_t incarnation) -> caf::result<store_batch> {
      // The writes before this request are applied first.
      if (!self->state.waiting.empty())
        commit(self);
      return read_incarnation(self, incarnation);
    },
    [=](atom::commit) { commit(self); },
    [=](atom::tick) {
      auto& st = self->state;
      st.timer_armed = false;
      if (!healthy(self)) {
        // A probe: a write of the id mark alone succeeds once the disk does.
        st.probe = true;
        st.id_mark = 0;
      } else if (st.unsynced) {
        st.sync_due = true;
      }
      commit_later(self);
    },
  };
}

} // namespace actormq
