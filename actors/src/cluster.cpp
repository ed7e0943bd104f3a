#include "actormq/cluster.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <openssl/evp.h>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "actormq/registry_actor.hpp"
#include "actormq/type_ids.hpp"
#include "answer.hpp"

namespace actormq {

namespace {

/// The rendezvous score of `queue` on `node`: the first 8 bytes of
/// SHA-256(node, NUL, queue), the same on every host.
uint64_t score(std::string_view node, std::string_view queue) {
  std::string key;
  key.reserve(node.size() + 1 + queue.size());
  key.append(node).push_back('\0');
  key.append(queue);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr);
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | md[i];
  return x;
}

/// "name at host:port", for log lines.
std::string describe(const member& m) {
  return m.name + " at " + m.host + ":" + std::to_string(m.port);
}

/// Fails the request whose answer has id `id` with `err`, as CAF's clock
/// fails a request that timed out.
void fail_request(caf::scheduled_actor* self, caf::message_id id,
                  caf::error err) {
  self->eq_impl(id, nullptr, self->context(), std::move(err));
}

/// Whether the message in hand came from another node (or an application
/// there): the internal messages of a node actor are refused from outside.
bool from_outside(caf::scheduled_actor* self) {
  auto& sender = self->current_sender();
  return sender && sender->node() != self->node();
}

/// A promise that `st` holds (see cluster_state::promises) until answered.
template <class T>
struct held_promise {
  cluster_state* st;
  uint64_t number;
  caf::typed_response_promise<T> promise;

  template <class X>
  void deliver(X&& x) {
    st->promises.done(number);
    promise.deliver(std::forward<X>(x));
  }
};

template <class T>
held_promise<T> keep(cluster_state& st) {
  auto rp = st.self->template make_response_promise<T>();
  return held_promise<T>{&st, st.promises.hold(rp), rp};
}

} // namespace

bool valid_node_name(std::string_view x) {
  if (x.empty() || x.size() > 64)
    return false;
  return std::all_of(x.begin(), x.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

std::vector<member> parse_members(std::string_view text, std::string& err) {
  std::vector<member> out;
  auto fail = [&](std::string what) {
    err = std::move(what);
    return std::vector<member>{};
  };
  if (text.empty())
    return fail("the list names no node");
  for (auto more = true; more;) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    more = comma != std::string_view::npos;
    text = more ? text.substr(comma + 1) : std::string_view{};
    if (item.empty())
      return fail("the list has an empty entry");
    auto at = item.find('@');
    auto colon = item.rfind(':');
    if (at == std::string_view::npos || colon == std::string_view::npos
        || colon < at)
      return fail("'" + std::string{item} + "' is not NAME@HOST:PORT");
    member m;
    m.name = std::string{item.substr(0, at)};
    auto host = item.substr(at + 1, colon - at - 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    m.host = std::string{host};
    auto port = item.substr(colon + 1);
    if (!valid_node_name(m.name))
      return fail("'" + m.name
                  + "': a node name is 1-64 of A-Z, a-z, 0-9, '_', '.', '-'");
    if (m.host.empty())
      return fail("'" + std::string{item} + "' names no host");
    unsigned long value = 0;
    if (port.empty() || port.size() > 5
        || !std::all_of(port.begin(), port.end(),
                        [](unsigned char c) { return std::isdigit(c); })
        || (value = std::stoul(std::string{port})) == 0 || value > 65535)
      return fail("'" + std::string{item} + "': the port is 1-65535");
    m.port = static_cast<uint16_t>(value);
    for (auto& x : out) {
      if (x.name == m.name)
        return fail("the node name '" + m.name + "' appears twice");
      if (x.host == m.host && x.port == m.port)
        return fail("the address " + m.host + ":" + std::string{port}
                    + " appears twice");
    }
    out.push_back(std::move(m));
  }
  return out;
}

size_t owner_of(std::string_view queue, const std::vector<member>& members) {
  size_t best = 0;
  uint64_t best_score = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    auto s = score(members[i].name, queue);
    if (i == 0 || s > best_score
        || (s == best_score && members[i].name > members[best].name)) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

template <class Answer, class F, class G, class... Ts>
void cluster_state::ask(size_t i, F f, G g, Ts&&... xs) {
  ask_within<Answer>(cfg.request_timeout, i, std::move(f), std::move(g),
                     std::forward<Ts>(xs)...);
}

template <class Answer, class F, class G, class... Ts>
void cluster_state::ask_within(caf::timespan timeout, size_t i, F f, G g,
                               Ts&&... xs) {
  auto& p = peers[i];
  if (!p.up) {
    g(make_error(ec::node_unreachable));
    return;
  }
  if (p.in_flight >= cfg.max_in_flight) {
    g(make_error(ec::node_busy));
    return;
  }
  ++p.in_flight;
  auto h = self->request(p.registry, timeout, std::forward<Ts>(xs)...);
  auto id = h.id();
  waiting.emplace(id, i);
  h.then(
    [this, i, id, f](Answer& x) mutable {
      waiting.erase(id);
      --peers[i].in_flight;
      f(x);
    },
    [this, i, id, g](caf::error& err) mutable {
      waiting.erase(id);
      --peers[i].in_flight;
      g(err);
    });
}

bool cluster_state::initiates(size_t i) const {
  return cfg.name < peers[i].who.name;
}

void cluster_state::connect(size_t i) {
  auto& p = peers[i];
  if (p.up || p.connecting || !initiates(i))
    return;
  p.connecting = true;
  self
    ->request(cfg.connector, cfg.request_timeout, caf::connect_atom::value,
              p.who.host, p.who.port)
    .then(
      [this, i](caf::node_id&, caf::strong_actor_ptr& ptr,
                std::set<std::string>&) {
        if (!ptr) {
          peers[i].connecting = false;
          lost(i, caf::make_error(caf::sec::no_actor_published_at_port));
          return;
        }
        greet(i, caf::actor_cast<node_actor>(std::move(ptr)));
      },
      [this, i](caf::error& err) {
        peers[i].connecting = false;
        lost(i, err);
      });
}

void cluster_state::greet(size_t i, node_actor node) {
  peers[i].connecting = true;
  peers[i].greeting = node.address();
  self
    ->request(node, cfg.request_timeout, atom::hello::value, cfg.protocol,
              cfg.name)
    .then(
      [this, i, node](std::string& name, registry_actor& reg) {
        if (peers[i].greeting != node.address())
          return; // A later greet took its place.
        peers[i].connecting = false;
        if (name != peers[i].who.name) {
          lost(i, caf::make_error(caf::sec::invalid_argument,
                                  "it says it is " + name));
          return;
        }
        linked(i, node, std::move(reg));
      },
      [this, i, node](caf::error& err) {
        if (peers[i].greeting != node.address())
          return;
        peers[i].connecting = false;
        lost(i, err);
      });
}

void cluster_state::retry(size_t i) {
  auto& p = peers[i];
  if (!initiates(i) && !p.candidate)
    return;
  p.backoff = std::min(cfg.retry_max,
                       std::max(cfg.retry_min, p.backoff * 2));
  self->delayed_send(self, p.backoff, atom::tick::value, static_cast<uint32_t>(i));
}

void cluster_state::linked(size_t i, node_actor node,
                           registry_actor registry) {
  auto& p = peers[i];
  if (p.up)
    return;
  p.node = std::move(node);
  p.registry = std::move(registry);
  p.up = true;
  p.greeting = caf::actor_addr{};
  p.reported = caf::error{};
  p.backoff = caf::timespan{0};
  self->monitor(p.node);
  log::info("cluster: linked to " + describe(p.who));
}

void cluster_state::lost(size_t i, const caf::error& reason) {
  auto& p = peers[i];
  auto was_up = p.up;
  p.up = false;
  if (was_up) {
    ++p.losses;
    self->demonitor(p.node.address());
    log::warning("cluster: lost " + describe(p.who) + " ("
                 + self->system().render(reason)
                 + "); its queues answer 503 until it is back");
    // What waits on it fails now, not at its timeout.
    std::vector<caf::message_id> ids;
    for (auto& [id, peer] : waiting)
      if (peer == i)
        ids.push_back(id);
    for (auto id : ids)
      fail_request(self, id, make_error(ec::node_unreachable));
  } else if (p.reported && reason
             && p.reported.category() == reason.category()
             && p.reported.code() == reason.code()) {
    log::debug("cluster: still cannot reach " + describe(p.who) + " ("
               + self->system().render(reason) + ")");
  } else {
    if (reason == caf::sec::incompatible_versions)
      log::error("cluster: " + describe(p.who) + " refused this node ("
                 + self->system().render(reason) + "); trying again");
    else
      log::warning("cluster: cannot reach " + describe(p.who) + " ("
                   + self->system().render(reason) + "); trying again");
  }
  p.reported = reason;
  p.greeting = caf::actor_addr{};
  p.node = node_actor{};
  p.registry = registry_actor{};
  retry(i);
}

caf::result<std::string, registry_actor>
cluster_state::hello(uint32_t version, const std::string& from) {
  if (version != cfg.protocol) {
    auto text = "node '" + from + "' speaks cluster protocol "
                + std::to_string(version) + ", this node "
                + std::to_string(cfg.protocol);
    log::error("cluster: refused " + text);
    return caf::make_error(caf::sec::incompatible_versions, text);
  }
  using answer = caf::result<std::string, registry_actor>;
  // An application: it needs no registry of this node's own.
  if (from.empty())
    return answer(cfg.name, registry_actor{});
  auto i = std::find_if(peers.begin(), peers.end(),
                        [&](const peer& p) { return p.who.name == from; });
  if (i == peers.end() || i - peers.begin() == static_cast<long>(me)) {
    log::error("cluster: refused '" + from + "': not a member");
    return caf::make_error(caf::sec::invalid_argument,
                           "'" + from + "' is not a member");
  }
  auto k = static_cast<size_t>(i - peers.begin());
  auto& p = peers[k];
  auto sender = caf::actor_cast<node_actor>(self->current_sender());
  if (initiates(k)) {
    // It is back: reach it now rather than after the backoff.
    if (!p.up) {
      p.backoff = caf::timespan{0};
      connect(k);
    }
  } else if (sender && p.greeting != sender.address()
             && (!p.up || p.node.address() != sender.address())) {
    // It reached this node (over the connection it made): greet it back
    // for its registry, and again after a backoff until that works. A new
    // actor from a member that is up restarted before its loss was
    // noticed.
    if (p.up)
      lost(k, caf::make_error(caf::exit_reason::remote_link_unreachable));
    p.candidate = sender;
    greet(k, sender);
  }
  return answer(cfg.name, cfg.local);
}

void cluster_state::locate(const std::string& name,
                           std::function<void(size_t)> found,
                           std::function<void(const caf::error&)> missing) {
  if (!valid_queue_name(name)) {
    missing(make_error(ec::invalid_queue_name));
    return;
  }
  // The search: the hash owner, then every other node together.
  auto search = [this, name, found, missing] {
    auto first = owner_of(name, cfg.members);
    ask<queue_actor>(
      first,
      [this, name, first, found](queue_actor&) {
        owners[name] = first;
        found(first);
      },
      [this, name, first, found, missing](const caf::error& err) {
        if (!is_error(err, ec::unknown_queue) && !is_error(err, ec::node_unreachable)
            && !is_error(err, ec::node_busy)) {
          missing(err);
          return;
        }
        struct round {
          size_t left = 0;
          bool done = false;
          caf::error uncertain;
        };
        auto r = std::make_shared<round>();
        if (!is_error(err, ec::unknown_queue))
          r->uncertain = err;
        r->left = peers.size() - 1;
        if (r->left == 0) {
          missing(r->uncertain ? r->uncertain : make_error(ec::unknown_queue));
          return;
        }
        for (size_t k = 0; k < peers.size(); ++k) {
          if (k == first)
            continue;
          auto one_less = [r, missing] {
            if (--r->left == 0 && !r->done)
              missing(r->uncertain ? r->uncertain
                                   : make_error(ec::unknown_queue));
          };
          ask<queue_actor>(
            k,
            [this, r, k, name, found, one_less](queue_actor&) {
              if (!r->done) {
                r->done = true;
                owners[name] = k;
                found(k);
              }
              one_less();
            },
            [r, one_less](const caf::error& e) {
              if (!is_error(e, ec::unknown_queue) && !r->uncertain)
                r->uncertain = e;
              one_less();
            },
            atom::get::value, name, false);
        }
      },
      atom::get::value, name, false);
  };
  auto i = owners.find(name);
  if (i == owners.end()) {
    search();
    return;
  }
  auto k = i->second;
  if (!peers[k].up) {
    missing(make_error(ec::node_unreachable));
    return;
  }
  found(k);
}

bool cluster_state::creatable(const std::string& name,
                              const caf::error& err) const {
  if (is_error(err, ec::unknown_queue))
    return true;
  return is_error(err, ec::node_unreachable)
         && peers[owner_of(name, cfg.members)].up;
}

caf::result<queue_actor> cluster_state::get(const std::string& name,
                                            bool create) {
  auto rp = keep<queue_actor>(*this);
  auto fetch = [this, rp, name, create](size_t k, bool make) mutable {
    ask<queue_actor>(
      k,
      [this, rp, name, k](queue_actor& q) mutable {
        owners[name] = k;
        rp.deliver(q);
      },
      [this, rp, name, create](const caf::error& err) mutable {
        if (!is_error(err, ec::unknown_queue)) {
          rp.deliver(err);
          return;
        }
        // Deleted since it was seen there: created anew on its hash owner
        // if the caller creates.
        owners.erase(name);
        auto home = owner_of(name, cfg.members);
        if (!create)
          rp.deliver(err);
        else
          ask<queue_actor>(
            home,
            [this, rp, name, home](queue_actor& q) mutable {
              owners[name] = home;
              rp.deliver(q);
            },
            [rp](const caf::error& e) mutable { rp.deliver(e); },
            atom::get::value, name, true);
      },
      atom::get::value, name, make);
  };
  locate(
    name, [fetch](size_t k) mutable { fetch(k, false); },
    [this, rp, name, create, fetch](const caf::error& err) mutable {
      if (create && creatable(name, err))
        fetch(owner_of(name, cfg.members), true);
      else
        rp.deliver(err);
    });
  return rp.promise;
}

caf::result<queue_actor> cluster_state::put(const std::string& name,
                                            const queue_attributes& values,
                                            uint32_t fields) {
  auto rp = keep<queue_actor>(*this);
  auto send = [this, rp, name, values, fields](size_t k) mutable {
    ask<queue_actor>(
      k,
      [this, rp, name, k](queue_actor& q) mutable {
        owners[name] = k;
        rp.deliver(q);
      },
      [rp](const caf::error& err) mutable { rp.deliver(err); },
      atom::put::value, name, values, fields);
  };
  locate(name, send, [this, rp, name, send](const caf::error& err) mutable {
    if (creatable(name, err))
      send(owner_of(name, cfg.members));
    else
      rp.deliver(err);
  });
  return rp.promise;
}

caf::result<std::vector<queue_info>> cluster_state::list() {
  auto rp = keep<std::vector<queue_info>>(*this);
  struct round {
    size_t left = 0;
    std::vector<queue_info> xs;
  };
  auto r = std::make_shared<round>();
  r->left = peers.size();
  for (size_t k = 0; k < peers.size(); ++k) {
    auto one_less = [r, rp]() mutable {
      if (--r->left == 0) {
        std::sort(r->xs.begin(), r->xs.end(),
                  [](const queue_info& x, const queue_info& y) {
                    return x.name < y.name;
                  });
        rp.deliver(std::move(r->xs));
      }
    };
    ask<std::vector<queue_info>>(
      k,
      [this, r, k, one_less](std::vector<queue_info>& xs) mutable {
        for (auto& x : xs) {
          owners[x.name] = k;
          r->xs.push_back(std::move(x));
        }
        one_less();
      },
      // A node that is down or slow is left out of the list.
      [one_less](const caf::error&) mutable { one_less(); },
      atom::list::value);
  }
  return rp.promise;
}

/// Asks the node that holds `name` a question about it, answered with
/// `Answer`.
/// `Answer`, within `timeout`; forgets where it is on success if `forget`
/// (it is gone).
template <class Answer, class... Ts>
caf::result<Answer> ask_owner(cluster_state& st, const std::string& name,
                              caf::timespan timeout, bool forget, Ts... xs) {
  auto rp = keep<Answer>(st);
  st.locate(
    name,
    [&st, rp, name, timeout, forget, xs...](size_t k) mutable {
      st.ask_within<Answer>(
        timeout, k,
        [&st, rp, name, forget](Answer& x) mutable {
          if (forget)
            st.owners.erase(name);
          rp.deliver(std::move(x));
        },
        [&st, rp, name](const caf::error& err) mutable {
          if (is_error(err, ec::unknown_queue))
            st.owners.erase(name);
          rp.deliver(err);
        },
        xs..., name);
    },
    [rp](const caf::error& err) mutable { rp.deliver(err); });
  return rp.promise;
}

caf::result<queue_info> cluster_state::stats(const std::string& name) {
  return ask_owner<queue_info>(*this, name, cfg.request_timeout, false,
                               atom::stats::value);
}

caf::result<bool> cluster_state::remove(const std::string& name) {
  return ask_owner<bool>(*this, name, cfg.request_timeout, true,
                         atom::remove::value);
}

caf::result<uint64_t> cluster_state::redrive(const std::string& name) {
  // The owner's redrive waits for its moves, each up to
  // remote_move_timeout.
  return ask_owner<uint64_t>(*this, name,
                             cfg.request_timeout
                               + caf::timespan{2 * remote_move_timeout},
                             false, atom::redrive::value);
}

std::vector<link_info> cluster_state::links() const {
  std::vector<link_info> out;
  for (size_t k = 0; k < peers.size(); ++k)
    if (k != me)
      out.push_back(link_info{peers[k].who.name, peers[k].up,
                              peers[k].in_flight, peers[k].losses});
  return out;
}

node_actor::behavior_type
cluster_node(node_actor::stateful_pointer<cluster_state> self,
             cluster_config cfg) {
  auto& st = self->state;
  st.self = self;
  st.cfg = std::move(cfg);
  for (size_t k = 0; k < st.cfg.members.size(); ++k) {
    cluster_state::peer p;
    p.who = st.cfg.members[k];
    if (p.who.name == st.cfg.name) {
      st.me = k;
      p.up = true;
      p.node = self;
      p.registry = st.cfg.local;
    }
    st.peers.push_back(std::move(p));
  }
  self->send(st.cfg.local, atom::route::value,
             caf::actor_cast<queue_locator>(self));
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (size_t k = 0; k < st.peers.size(); ++k)
      if (k != st.me && st.peers[k].up
          && st.peers[k].node.address() == dm.source)
        st.lost(k, dm.reason);
  });
  self->set_default_handler(drop_unexpected);
  answer_on_exit(self, "the cluster actor failed: a handler threw",
                 [self](const caf::error&) {
                   self->state.promises.fail_all(
                     caf::make_error(caf::sec::request_receiver_down));
                 });
  for (size_t k = 0; k < st.peers.size(); ++k)
    if (k != st.me)
      st.connect(k);
  return {
    [self](atom::get, const std::string& name, bool create) {
      return self->state.get(name, create);
    },
    [self](atom::put, const std::string& name, const queue_attributes& values,
           uint32_t fields) { return self->state.put(name, values, fields); },
    [self](atom::list) { return self->state.list(); },
    [self](atom::stats, const std::string& name) {
      return self->state.stats(name);
    },
    [self](atom::remove, const std::string& name) {
      return self->state.remove(name);
    },
    [self](atom::redrive, const std::string& name) {
      return self->state.redrive(name);
    },
    [self](atom::adopt, std::string& source, std::vector<moved_message>& xs) {
      return self->delegate(self->state.cfg.local, atom::adopt::value,
                            std::move(source), std::move(xs));
    },
    [self](atom::drain) {
      if (!from_outside(self))
        self->send(self->state.cfg.local, atom::drain::value);
    },
    [self](atom::route, queue_locator&) {
      // Its own registry routes through this actor already.
    },
    [self](atom::hello, uint32_t version, const std::string& from) {
      return self->state.hello(version, from);
    },
    [self](atom::members) { return self->state.cfg.members; },
    [self](atom::links) { return self->state.links(); },
    [self](atom::tick, uint32_t i) {
      auto& st = self->state;
      if (from_outside(self) || i >= st.peers.size())
        return;
      auto& p = st.peers[i];
      if (st.initiates(i))
        st.connect(i);
      else if (!p.up && !p.connecting && p.candidate)
        st.greet(i, p.candidate);
    },
  };
}

void add_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::actormq>();
  cfg.load<caf::io::middleman>();
}

caf::io::middleman_actor connector(caf::actor_system& sys) {
  if (sys.has_openssl_manager())
    return sys.openssl_manager().actor_handle();
  return sys.middleman().actor_handle();
}

caf::expected<registry_actor> connect(caf::actor_system& sys,
                                      const std::string& host, uint16_t port,
                                      caf::timespan timeout) {
  caf::scoped_actor self{sys};
  auto mm = connector(sys);
  caf::error err;
  // The published actor, without CAF's blocking remote_actor (which waits
  // for ever on a peer that accepts and then hangs).
  auto reach = [&](const std::string& h, uint16_t p) {
    caf::strong_actor_ptr found;
    self->request(mm, timeout, caf::connect_atom::value, h, p)
      .receive(
        [&](caf::node_id&, caf::strong_actor_ptr& x, std::set<std::string>&) {
          found = std::move(x);
          if (!found)
            err = caf::make_error(caf::sec::no_actor_published_at_port);
        },
        [&](caf::error& e) { err = std::move(e); });
    return found;
  };
  auto node = caf::actor_cast<node_actor>(reach(host, port));
  if (err)
    return err;
  std::vector<member> members;
  self->request(node, timeout, atom::hello::value, cluster_protocol_version,
                std::string{})
    .receive([](std::string&, registry_actor&) {},
             [&](caf::error& e) { err = std::move(e); });
  if (err)
    return err;
  self->request(node, timeout, atom::members::value)
    .receive([&](std::vector<member>& xs) { members = std::move(xs); },
             [&](caf::error& e) { err = std::move(e); });
  if (err)
    return err;
  for (auto& m : members) {
    if (m.host == host && m.port == port)
      continue;
    reach(m.host, m.port);
    if (err)
      log::warning("cluster: cannot reach " + describe(m) + " ("
                   + sys.render(err) + ")");
    err = caf::error{};
  }
  return caf::actor_cast<registry_actor>(node);
}

} // namespace actormq
