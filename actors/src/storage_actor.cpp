#include "actormq/storage_actor.hpp"

#include <algorithm>
#include <utility>

#include <caf/event_based_actor.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "actormq/records.hpp"

namespace actormq {

namespace {

using self_ptr = storage_actor::stateful_pointer<storage_state>;

using promises = std::vector<caf::typed_response_promise<atom::ok>>;

/// Calls the store. Blocking: runs detached, on a thread of its own.
caf::behavior writer(caf::event_based_actor* self, std::shared_ptr<store> db) {
  self->set_default_handler(drop_unexpected);
  auto failed = [db](const char* what, std::string why) {
    log::error(std::string{"storage: "} + what + " failed: " + why);
    if (auto still = db->resume(); !still.empty())
      log::error("storage: cannot resume yet: " + still);
    return make_error(ec::storage_failed);
  };
  return {
    [=](atom::write, const store_batch& ops,
        bool sync) -> caf::result<atom::ok> {
      if (auto err = db->write(ops, sync); !err.empty())
        return failed("write", std::move(err));
      return atom::ok::value;
    },
    [=](atom::flush) -> caf::result<atom::ok> {
      if (auto err = db->sync(); !err.empty())
        return failed("sync", std::move(err));
      return atom::ok::value;
    },
  };
}

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

void kick(self_ptr self);

/// After a failed write or sync: answers `waiting` with the error and
/// starts probing the store.
void failed(self_ptr self, promises& waiting, const caf::error& err) {
  self->state.busy = false;
  set_healthy(self, false);
  deliver(waiting, err);
  arm(self);
  kick(self);
}

/// Syncs for the callers of flush.
void sync(self_ptr self) {
  auto& st = self->state;
  st.busy = true;
  st.sync_due = false;
  auto waiting = std::exchange(st.flushing, {});
  self->request(st.writer, caf::infinite, atom::flush::value)
    .then(
      [=](atom::ok) mutable {
        self->state.busy = false;
        self->state.unsynced = false;
        deliver(waiting, caf::none);
        kick(self);
      },
      [=](caf::error& err) mutable { failed(self, waiting, err); });
}

/// Starts the next write if none runs: everything that arrived meanwhile
/// goes in one batch (group commit).
void kick(self_ptr self) {
  auto& st = self->state;
  if (st.busy)
    return;
  if (st.waiting.empty() && !st.probe) {
    if (!st.flushing.empty() || st.sync_due)
      sync(self);
    return;
  }
  st.busy = true;
  st.probe = false;
  auto ops = std::exchange(st.pending, {});
  auto waiting = std::exchange(st.waiting, {});
  auto mark = st.cfg.ids ? st.cfg.ids->load() : 0;
  if (mark > st.id_mark)
    ops.push_back(store_op{store_op::kind::put, records::id_mark_key(),
                           records::encode(records::id_mark{mark})});
  auto synced = st.cfg.mode == fsync_mode::always;
  self->request(st.writer, caf::infinite, atom::write::value, std::move(ops),
                synced)
    .then(
      [=](atom::ok) mutable {
        auto& st = self->state;
        st.busy = false;
        st.id_mark = std::max(st.id_mark, mark);
        st.unsynced = st.unsynced || !synced;
        set_healthy(self, true);
        deliver(waiting, caf::none);
        arm(self);
        kick(self);
      },
      [=](caf::error& err) mutable { failed(self, waiting, err); });
}

} // namespace

storage_actor::behavior_type
storage(storage_actor::stateful_pointer<storage_state> self,
        storage_config cfg) {
  self->set_default_handler(drop_unexpected);
  auto& st = self->state;
  st.writer = cfg.detached_writer
                ? self->spawn<caf::detached + caf::linked>(writer, cfg.db)
                : self->spawn<caf::linked>(writer, cfg.db);
  st.cfg = std::move(cfg);
  return {
    [=](atom::write, store_batch& ops) -> caf::result<atom::ok> {
      auto& st = self->state;
      auto rp = self->make_response_promise<atom::ok>();
      std::move(ops.begin(), ops.end(), std::back_inserter(st.pending));
      st.waiting.push_back(rp);
      kick(self);
      return rp;
    },
    [=](atom::flush) -> caf::result<atom::ok> {
      auto rp = self->make_response_promise<atom::ok>();
      self->state.flushing.push_back(rp);
      kick(self);
      return rp;
    },
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
      kick(self);
      arm(self);
    },
  };
}

} // namespace actormq
