#include "sqs_actions.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "actormq/errors.hpp"
#include "actormq/registry_actor.hpp"

namespace actormq::http::detail {

using nlohmann::ordered_json;

/// A move task: a redrive, done when it answers.
struct move_task {
  std::string handle;
  std::string source;
  uint64_t moved = 0;
  int64_t started_ms = 0;
};

/// What a FIFO receive with a ReceiveRequestAttemptId answered.
struct attempt {
  std::vector<lease> leases;
  time_point at;
};

struct sqs_state {
  /// The most move tasks remembered.
  static constexpr size_t max_tasks = 1000;
  /// The most receive attempts remembered, and the most bytes of messages
  /// they may hold (see held_bytes()): past either, the oldest go.
  static constexpr size_t max_attempts = 10000;
  static constexpr size_t max_attempt_bytes = size_t{64} << 20;
  /// How long a receive attempt is remembered (as SQS's).
  static constexpr auto attempt_window = std::chrono::minutes{5};

  using attempt_key = std::pair<std::string, std::string>;

  std::mutex mtx;
  std::deque<move_task> tasks;
  std::map<attempt_key, attempt> attempts;
  /// The attempts by age (an entry whose attempt was replaced meanwhile is
  /// skipped: its time differs).
  std::deque<std::pair<time_point, attempt_key>> attempt_order;
  size_t attempt_bytes = 0;

  static size_t bytes_of(const attempt& x) {
    size_t n = 0;
    for (auto& l : x.leases)
      n += held_bytes(l.msg) + l.receipt.size() + sizeof(lease);
    return n;
  }

  void forget(const attempt_key& key) {
    if (auto i = attempts.find(key); i != attempts.end()) {
      attempt_bytes -= bytes_of(i->second);
      attempts.erase(i);
    }
  }

  /// Remembers what the receive `key` answered (nothing if it answered
  /// none: a retry receives anew).
  void remember(const attempt_key& key, std::vector<lease> leases,
                time_point now) {
    if (leases.empty())
      return;
    std::lock_guard<std::mutex> guard{mtx};
    forget(key);
    attempt x{std::move(leases), now};
    attempt_bytes += bytes_of(x);
    attempts.emplace(key, std::move(x));
    attempt_order.emplace_back(now, key);
    while (!attempt_order.empty()
           && (attempts.size() > max_attempts
               || attempt_bytes > max_attempt_bytes
               || now - attempt_order.front().first >= attempt_window)) {
      auto& [at, oldest] = attempt_order.front();
      if (auto i = attempts.find(oldest);
          i != attempts.end() && i->second.at == at)
        forget(oldest);
      attempt_order.pop_front();
    }
  }

  /// The leases a receive `key` answered within the window that still
  /// hold at `now`; nothing if it is not remembered or none holds (a
  /// retry then receives anew).
  std::optional<std::vector<lease>> recall(const attempt_key& key,
                                           time_point now) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = attempts.find(key);
    if (i == attempts.end() || now - i->second.at >= attempt_window)
      return std::nullopt;
    std::vector<lease> out;
    for (auto& x : i->second.leases)
      if (x.expires > now)
        out.push_back(x);
    if (out.empty())
      return std::nullopt;
    return out;
  }
};

std::shared_ptr<sqs_state> make_sqs_state() {
  return std::make_shared<sqs_state>();
}

namespace {

using call_ptr = std::shared_ptr<const sqs::call>;

/// Answers with error `f`.
void answer_fault(const responder& r, const sqs::call& c,
                  const sqs::fault& f) {
  r.respond(sqs::error_reply(c.proto, c.request_id, f));
}

/// Answers with the SQS error that `err` stands for; an error no table
/// knows is a bug, logged here.
void answer_error(bridge_ptr self, const responder& r, const sqs::call& c,
                  const caf::error& err) {
  auto f = sqs::to_fault(err);
  if (f.what == sqs::code::internal_failure)
    log::error("an SQS request failed: " + self->system().render(err));
  answer_fault(r, c, f);
}

ordered_json failed_json(const std::string& id, const sqs::fault& f) {
  auto& d = sqs::code_def_of(f.what);
  return {{"Id", id},
          {"SenderFault", d.sender},
          {"Code", d.query},
          {"Message", f.message}};
}

/// Answers a batch: `ok[i]` is entry i's success, else `failed[i]` its
/// error.
void answer_batch(const responder& r, const sqs::call& c,
                  const std::vector<ordered_json>& ok,
                  const std::vector<std::optional<sqs::fault>>& failed) {
  auto good = ordered_json::array();
  auto bad = ordered_json::array();
  for (size_t i = 0; i < c.entries.size(); ++i) {
    if (failed[i])
      bad.push_back(failed_json(c.entries[i].id, *failed[i]));
    else
      good.push_back(ok[i]);
  }
  r.respond(sqs::result_reply(c, {{"Successful", std::move(good)},
                                  {"Failed", std::move(bad)}}));
}

/// The entries of a batch that passed their own checks, by index.
std::vector<size_t> valid_entries(const sqs::call& c) {
  std::vector<size_t> out;
  for (size_t i = 0; i < c.entries.size(); ++i)
    if (!c.entries[i].failed)
      out.push_back(i);
  return out;
}

/// Each entry's own failure (from parsing), as a batch result starts.
std::vector<std::optional<sqs::fault>> own_failures(const sqs::call& c) {
  std::vector<std::optional<sqs::fault>> out;
  for (auto& e : c.entries)
    out.push_back(e.failed);
  return out;
}

/// Whether `err` is a rule one message can break on its own (as opposed
/// to the queue's state: full, out of memory, its store failing).
bool breaks_entry_rule(const caf::error& err) {
  ec x;
  if (!is_actormq_error(err, x))
    return false;
  switch (x) {
    case ec::message_required:
    case ec::message_too_large:
    case ec::group_required:
    case ec::fifo_forbids:
    case ec::too_many_attributes:
      return true;
    default:
      return false;
  }
}

void send(bridge_ptr self, call_ptr c, const responder& r,
          caf::actor_clock::time_point until, const queue_actor& q) {
  auto fail = [=](caf::error& err) { answer_error(self, r, *c, err); };
  if (c->act == sqs::action::send_message) {
    ask<uint64_t>(
      self, until, q,
      [=](uint64_t id) {
        r.respond(sqs::result_reply(*c,
                                    sqs::sent_json(c->entries.front().msg,
                                                   id)));
      },
      fail, atom::enqueue::value, c->entries.front().msg);
    return;
  }
  // The entries that passed their own checks go in one write, all or none;
  // if the queue refuses one of them, each on its own (see below).
  auto idx = valid_entries(*c);
  auto failed = own_failures(*c);
  std::vector<ordered_json> ok(c->entries.size());
  if (idx.empty()) {
    answer_batch(r, *c, ok, failed);
    return;
  }
  std::vector<new_message> msgs;
  for (auto i : idx)
    msgs.push_back(c->entries[i].msg);
  ask<std::vector<uint64_t>>(
    self, until, q,
    [=](std::vector<uint64_t>& ids) mutable {
      for (size_t k = 0; k < idx.size() && k < ids.size(); ++k) {
        auto& e = c->entries[idx[k]];
        ok[idx[k]] = sqs::sent_json(e.msg, ids[k]);
        ok[idx[k]]["Id"] = e.id;
      }
      answer_batch(r, *c, ok, failed);
    },
    [=](caf::error& err) mutable {
      if (!breaks_entry_rule(err) || !r.awaited()) {
        auto f = sqs::to_fault(err);
        for (auto i : idx)
          failed[i] = f;
        answer_batch(r, *c, ok, failed);
        return;
      }
      // An entry broke a rule of the queue's (a FIFO queue's, its size):
      // each goes on its own, in order, and gets its own result.
      struct gathered {
        std::vector<ordered_json> ok;
        std::vector<std::optional<sqs::fault>> failed;
        size_t pending;
      };
      auto g = std::make_shared<gathered>(gathered{ok, failed, idx.size()});
      auto one_done = [=] {
        if (--g->pending == 0)
          answer_batch(r, *c, g->ok, g->failed);
      };
      for (auto i : idx)
        ask<uint64_t>(
          self, until, q,
          [=](uint64_t id) {
            g->ok[i] = sqs::sent_json(c->entries[i].msg, id);
            g->ok[i]["Id"] = c->entries[i].id;
            one_done();
          },
          [=](caf::error& e) {
            g->failed[i] = sqs::to_fault(e);
            one_done();
          },
          atom::enqueue::value, c->entries[i].msg);
    },
    atom::enqueue::value, std::move(msgs));
}

/// Answers a receive; false if the answer went nowhere.
bool answer_receive(const responder& r, const sqs::call& c,
                    const std::vector<lease>& xs, time_point now) {
  ordered_json result = ordered_json::object();
  if (!xs.empty()) {
    auto& arr = result["Messages"];
    for (auto& x : xs)
      arr.push_back(sqs::message_json(c, x, now));
  }
  return r.respond(sqs::result_reply(c, result));
}

void receive(bridge_ptr self, call_ptr c, const responder& r,
             caf::actor_clock::time_point until, const queue_actor& q) {
  auto now = self->clock().now();
  auto key = std::make_pair(c->queue, c->attempt_id);
  auto& st = self->state.cfg.sqs;
  if (!c->attempt_id.empty())
    if (auto xs = st->recall(key, now)) {
      answer_receive(r, *c, *xs, now);
      return;
    }
  ask<std::vector<lease>>(
    self, until, q,
    [=](std::vector<lease>& xs) {
      auto now = self->clock().now();
      if (!c->attempt_id.empty())
        self->state.cfg.sqs->remember(key, xs, now);
      // A client that left while waiting: its messages go back at once,
      // unless it may retry the attempt and get them.
      if (!answer_receive(r, *c, xs, now) && c->attempt_id.empty())
        give_back(self, q, xs);
    },
    [=](caf::error& err) { answer_error(self, r, *c, err); },
    atom::receive::value, c->max, c->visibility, c->wait);
}

/// Deletes or changes the visibility of the receipts of a call's entries:
/// one request per distinct timeout (0: released at once), each entry's
/// result gathered into one answer.
void settle(bridge_ptr self, call_ptr c, const responder& r,
            caf::actor_clock::time_point until, const queue_actor& q) {
  auto deleting = c->act == sqs::action::delete_message
                  || c->act == sqs::action::delete_message_batch;
  auto batch = c->act == sqs::action::delete_message_batch
               || c->act == sqs::action::change_message_visibility_batch;
  struct gathered {
    std::vector<std::optional<sqs::fault>> failed;
    size_t pending = 0;
  };
  auto g = std::make_shared<gathered>();
  g->failed = own_failures(*c);
  std::map<caf::timespan, std::vector<size_t>> by_timeout;
  for (auto i : valid_entries(*c))
    by_timeout[deleting ? caf::timespan{0} : c->entries[i].visibility]
      .push_back(i);
  auto finish = [=] {
    if (batch) {
      std::vector<ordered_json> ok;
      for (auto& e : c->entries)
        ok.push_back({{"Id", e.id}});
      answer_batch(r, *c, ok, g->failed);
    } else if (g->failed.front()) {
      answer_fault(r, *c, *g->failed.front());
    } else {
      r.respond(sqs::result_reply(*c, ordered_json::object()));
    }
  };
  if (by_timeout.empty()) {
    finish();
    return;
  }
  g->pending = by_timeout.size();
  for (auto& [timeout, idx] : by_timeout) {
    std::vector<std::string> receipts;
    for (auto i : idx)
      receipts.push_back(c->entries[i].receipt);
    auto on_results = [=, idx = idx](std::vector<caf::error>& results) {
      for (size_t k = 0; k < idx.size() && k < results.size(); ++k) {
        ec x;
        // A delete of a message no longer leased by this receipt is done
        // (as SQS's): only a receipt no queue handed out fails.
        if (!results[k]
            || (deleting && is_actormq_error(results[k], x)
                && x == ec::stale_receipt))
          continue;
        g->failed[idx[k]] = sqs::to_fault(results[k]);
      }
      if (--g->pending == 0)
        finish();
    };
    auto on_error = [=, idx = idx](caf::error& err) {
      auto f = sqs::to_fault(err);
      for (auto i : idx)
        g->failed[i] = f;
      if (--g->pending == 0)
        finish();
    };
    if (deleting)
      ask<std::vector<caf::error>>(self, until, q, on_results, on_error,
                                   atom::ack::value, std::move(receipts));
    else if (timeout == caf::timespan{0})
      ask<std::vector<caf::error>>(self, until, q, on_results, on_error,
                                   atom::release::value, std::move(receipts),
                                   caf::timespan{0});
    else
      ask<std::vector<caf::error>>(self, until, q, on_results, on_error,
                                   atom::extend::value, std::move(receipts),
                                   timeout);
  }
}

/// The names of `xs` after `c`'s NextToken, at most its MaxResults (0:
/// all), and the token that continues the list.
ordered_json page(const sqs::call& c, std::vector<std::string> names,
                  const char* member) {
  std::sort(names.begin(), names.end());
  auto from = std::upper_bound(names.begin(), names.end(), c.next_token);
  if (c.next_token.empty())
    from = names.begin();
  auto out = ordered_json::object();
  auto& urls = out[member];
  urls = ordered_json::array();
  for (auto i = from; i != names.end(); ++i) {
    if (c.max_results > 0 && urls.size() == c.max_results) {
      out["NextToken"] = *(i - 1);
      break;
    }
    urls.push_back(sqs::queue_url(c, *i));
  }
  return out;
}

int64_t wall_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

ordered_json task_json(const sqs::call& c, const move_task& t) {
  return {{"TaskHandle", t.handle},
          {"Status", "COMPLETED"},
          {"SourceArn", sqs::queue_arn(c, t.source)},
          {"ApproximateNumberOfMessagesMoved", t.moved},
          {"ApproximateNumberOfMessagesToMove", t.moved},
          {"StartedTimestamp", t.started_ms}};
}

/// The queue's tags after `c` (TagQueue or UntagQueue) changes `tags`;
/// nothing if that makes too many.
std::optional<queue_attributes> retagged(const sqs::call& c,
                                         queue_attributes x) {
  for (auto& [k, v] : c.tags) {
    if (c.act == sqs::action::untag_queue)
      x.tags.erase(k);
    else
      x.tags[k] = v;
  }
  if (x.tags.size() > max_tags)
    return std::nullopt;
  return x;
}

ordered_json tags_json(const queue_attributes& x) {
  auto out = ordered_json::object();
  for (auto& [k, v] : x.tags)
    out[k] = v;
  if (out.empty())
    return ordered_json::object();
  return {{"Tags", std::move(out)}};
}

} // namespace

void serve_sqs(bridge_ptr self, sqs::call& call, const responder& r,
               caf::actor_clock::time_point until) {
  for (auto& e : call.entries)
    e.msg.sender = call.sender;
  auto c = std::make_shared<const sqs::call>(std::move(call));
  auto fail = [=](caf::error& err) { answer_error(self, r, *c, err); };
  auto done = [=](const ordered_json& x) {
    r.respond(sqs::result_reply(*c, x));
  };
  auto url = [=] { return ordered_json{{"QueueUrl", sqs::queue_url(*c, c->queue)}}; };
  auto reg = self->state.cfg.registry;
  switch (c->act) {
    case sqs::action::create_queue:
      // An existing queue is the answer if the call names no other
      // attribute values; else the queue is made with SQS's defaults.
      ask<queue_info>(
        self, until, reg,
        [=](queue_info& x) {
          if (!sqs::same_attributes(*c, x.attributes))
            answer_fault(r, *c,
                         {sqs::code::queue_already_exists,
                          "A queue already exists with the same name and a "
                          "different value for attribute(s)."});
          else
            done(url());
        },
        [=](caf::error& err) {
          ec x;
          if (!is_actormq_error(err, x) || x != ec::unknown_queue) {
            answer_error(self, r, *c, err);
            return;
          }
          if (!r.awaited())
            return;
          auto attrs = c->attributes;
          for (auto& [k, v] : c->tags)
            attrs.tags[k] = v;
          ask<queue_actor>(
            self, until, self->state.cfg.registry,
            [=](queue_actor&) { done(url()); }, fail, atom::put::value,
            c->queue, attrs, attribute_field::all);
        },
        atom::stats::value, c->queue);
      return;
    case sqs::action::get_queue_url:
    case sqs::action::add_permission:
    case sqs::action::remove_permission:
      ask<queue_info>(
        self, until, reg,
        [=](queue_info&) {
          done(c->act == sqs::action::get_queue_url ? url()
                                                    : ordered_json::object());
        },
        fail, atom::stats::value, c->queue);
      return;
    case sqs::action::list_queues:
      ask<std::vector<queue_info>>(
        self, until, reg,
        [=](std::vector<queue_info>& xs) {
          std::vector<std::string> names;
          for (auto& x : xs)
            if (x.name.compare(0, c->prefix.size(), c->prefix) == 0
                && (!c->visible || c->visible->may_see(x.name)))
              names.push_back(x.name);
          done(page(*c, std::move(names), "QueueUrls"));
        },
        fail, atom::list::value);
      return;
    case sqs::action::list_dead_letter_source_queues:
      ask<std::vector<queue_info>>(
        self, until, reg,
        [=](std::vector<queue_info>& xs) {
          auto found = false;
          std::vector<std::string> names;
          for (auto& x : xs) {
            found = found || x.name == c->queue;
            if (x.attributes.dead_letter_queue == c->queue
                && (!c->visible || c->visible->may_see(x.name)))
              names.push_back(x.name);
          }
          if (!found)
            answer_error(self, r, *c, make_error(ec::unknown_queue));
          else
            done(page(*c, std::move(names), "queueUrls"));
        },
        fail, atom::list::value);
      return;
    case sqs::action::delete_queue:
      self->state.queues.erase(c->queue);
      ask<bool>(
        self, until, reg, [=](bool) { done(ordered_json::object()); }, fail,
        atom::remove::value, c->queue);
      return;
    case sqs::action::get_queue_attributes:
      ask<queue_info>(
        self, until, reg,
        [=](queue_info& x) { done(sqs::attributes_json(*c, x)); }, fail,
        atom::stats::value, c->queue);
      return;
    case sqs::action::list_queue_tags:
      ask<queue_info>(
        self, until, reg,
        [=](queue_info& x) { done(tags_json(x.attributes)); }, fail,
        atom::stats::value, c->queue);
      return;
    case sqs::action::set_queue_attributes:
    case sqs::action::tag_queue:
    case sqs::action::untag_queue:
      // Only an existing queue changes (a PUT would create it).
      ask<queue_info>(
        self, until, reg,
        [=](queue_info& x) {
          if (!r.awaited())
            return;
          auto attrs = c->act == sqs::action::set_queue_attributes
                         ? std::optional<queue_attributes>{c->attributes}
                         : retagged(*c, x.attributes);
          if (!attrs) {
            answer_fault(r, *c,
                         {sqs::code::invalid_parameter_value,
                          "A queue has at most 50 tags."});
            return;
          }
          auto fields = c->act == sqs::action::set_queue_attributes
                          ? c->attribute_fields
                          : attribute_field::tags;
          ask<queue_actor>(
            self, until, self->state.cfg.registry,
            [=](queue_actor&) { done(ordered_json::object()); }, fail,
            atom::put::value, c->queue, *attrs, fields);
        },
        fail, atom::stats::value, c->queue);
      return;
    case sqs::action::start_message_move_task:
      ask<uint64_t>(
        self, until, reg,
        [=](uint64_t n) {
          auto& st = *self->state.cfg.sqs;
          move_task t;
          {
            std::lock_guard<std::mutex> guard{st.mtx};
            t = move_task{sqs::new_request_id(), c->queue, n, wall_millis()};
            st.tasks.push_back(t);
            if (st.tasks.size() > sqs_state::max_tasks)
              st.tasks.pop_front();
          }
          done({{"TaskHandle", t.handle}});
        },
        fail, atom::redrive::value, c->queue);
      return;
    case sqs::action::cancel_message_move_task: {
      auto& st = *self->state.cfg.sqs;
      std::optional<std::string> source;
      {
        std::lock_guard<std::mutex> guard{st.mtx};
        for (auto& t : st.tasks)
          if (t.handle == c->task_handle)
            source = t.source;
      }
      if (!source)
        answer_fault(r, *c,
                     {sqs::code::resource_not_found,
                      "No move task has this handle."});
      else if (c->visible
               && !c->visible->allows(auth::action::manage, *source))
        answer_fault(r, *c,
                     {sqs::code::access_denied,
                      "The token holds no manage grant on the task's "
                      "queue."});
      else
        answer_fault(r, *c,
                     {sqs::code::unsupported_operation,
                      "The task is done: only a running task can be "
                      "cancelled."});
      return;
    }
    case sqs::action::list_message_move_tasks: {
      auto& st = *self->state.cfg.sqs;
      auto results = ordered_json::array();
      {
        std::lock_guard<std::mutex> guard{st.mtx};
        auto limit = c->max_results == 0 ? 1u : c->max_results;
        for (auto i = st.tasks.rbegin();
             i != st.tasks.rend() && results.size() < limit; ++i)
          if (i->source == c->queue)
            results.push_back(task_json(*c, *i));
      }
      done({{"Results", std::move(results)}});
      return;
    }
    case sqs::action::purge_queue:
    case sqs::action::send_message:
    case sqs::action::send_message_batch:
    case sqs::action::receive_message:
    case sqs::action::delete_message:
    case sqs::action::delete_message_batch:
    case sqs::action::change_message_visibility:
    case sqs::action::change_message_visibility_batch:
      with_queue(
        self, c->queue, false, r, until,
        [=](const queue_actor& q) {
          switch (c->act) {
            case sqs::action::purge_queue:
              ask<uint64_t>(
                self, until, q,
                [=](uint64_t) { done(ordered_json::object()); }, fail,
                atom::purge::value);
              return;
            case sqs::action::send_message:
            case sqs::action::send_message_batch:
              send(self, c, r, until, q);
              return;
            case sqs::action::receive_message:
              receive(self, c, r, until, q);
              return;
            default:
              settle(self, c, r, until, q);
          }
        },
        fail);
      return;
  }
}

} // namespace actormq::http::detail
