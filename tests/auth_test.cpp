#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <variant>

#include "auth.hpp"
#include "temp_dir.hpp"

// Tokens and grants as a plain class: no sockets, no actors.

using namespace actormq::http::auth;

namespace {

/// Parses `text` as the file "tokens", which must be good.
std::shared_ptr<const token_set> good(const std::string& text) {
  auto parsed = token_set::parse(text, "tokens");
  auto err = std::get_if<load_error>(&parsed);
  INFO((err ? err->text : "good"));
  REQUIRE(err == nullptr);
  return std::get<0>(std::move(parsed));
}

/// Parses `text` as the file "tokens", which must be bad; returns why.
std::string bad(const std::string& text) {
  auto parsed = token_set::parse(text, "tokens");
  REQUIRE(std::holds_alternative<load_error>(parsed));
  return std::get<load_error>(parsed).text;
}

/// The auth file line of token `token` with `grants`.
std::string line(const std::string& name, const std::string& token,
                 const std::string& grants) {
  return name + " " + digest_hex(token) + " " + grants + "\n";
}

/// The grants of `token` in `set`, which must know it.
const grants& of(const std::shared_ptr<const token_set>& set,
                 const std::string& token) {
  auto c = set->identify("Bearer " + token);
  REQUIRE(c.token != nullptr);
  return *c.token;
}

} // namespace

TEST_CASE("globs match with * and ?") {
  CHECK(glob_matches("orders", "orders"));
  CHECK_FALSE(glob_matches("orders", "orders2"));
  CHECK_FALSE(glob_matches("orders", "Orders"));
  CHECK(glob_matches("*", ""));
  CHECK(glob_matches("*", "anything.at-all"));
  CHECK(glob_matches("team-a.*", "team-a."));
  CHECK(glob_matches("team-a.*", "team-a.jobs"));
  CHECK_FALSE(glob_matches("team-a.*", "team-b.jobs"));
  CHECK(glob_matches("*.dlq", "orders.dlq"));
  CHECK_FALSE(glob_matches("*.dlq", "orders.dlq2"));
  CHECK(glob_matches("q?", "q1"));
  CHECK_FALSE(glob_matches("q?", "q"));
  CHECK_FALSE(glob_matches("q?", "q12"));
  CHECK(glob_matches("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_matches("a*b*c", "aXbYbZ"));
  CHECK(glob_matches("**a**", "bab"));
  CHECK(glob_matches("*?*", "x"));
  CHECK_FALSE(glob_matches("*?*", ""));
}

TEST_CASE("the SHA-256 of a token is lowercase hex") {
  CHECK(digest_hex("abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("new tokens are 43 URL-safe characters and all differ") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = new_token();
    CHECK(t.size() == 43);
    CHECK(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                              "tuvwxyz0123456789-_")
          == std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("a token is found by the Bearer header that presents it") {
  auto set = good(line("ci", "secret-1", "send:orders"));
  CHECK(set->size() == 1);
  for (auto header : {"Bearer secret-1", "bearer secret-1", "BEARER secret-1",
                      "  Bearer   secret-1  ", "Bearer\tsecret-1"}) {
    INFO(header);
    auto c = set->identify(header);
    CHECK(c.presented);
    CHECK(c.token != nullptr);
  }
  for (auto header : {"", "Bearer", "Bearer   ", "Basic c2VjcmV0LTE=",
                      "secret-1", "Bearersecret-1"}) {
    INFO(header);
    auto c = set->identify(header);
    CHECK_FALSE(c.presented);
    CHECK(c.token == nullptr);
  }
  for (auto header : {"Bearer secret-2", "Bearer secret-1x",
                      "Bearer SECRET-1", "Bearer secret-1 secret-1"}) {
    INFO(header);
    auto c = set->identify(header);
    CHECK(c.presented);
    CHECK(c.token == nullptr);
  }
}

TEST_CASE("each grant allows its actions on the queues its glob matches") {
  auto set = good(line("producer", "p", "send:orders send:team-a.*")
                  + line("consumer", "c", "receive:orders")
                  + line("admin", "a", "manage:*")
                  + line("prometheus", "m", "metrics")
                  + line("root", "r", "*"));
  REQUIRE(set->size() == 5);
  struct expectation {
    const char* token;
    action what;
    const char* queue;
    bool allowed;
  };
  const expectation cases[] = {
    {"p", action::send, "orders", true},
    {"p", action::send, "team-a.jobs", true},
    {"p", action::send, "team-b.jobs", false},
    {"p", action::receive, "orders", false},
    {"p", action::manage, "orders", false},
    {"p", action::metrics, "", false},
    {"c", action::receive, "orders", true},
    {"c", action::send, "orders", false},
    {"c", action::receive, "orders.dlq", false},
    {"a", action::manage, "anything", true},
    {"a", action::send, "anything", false},
    {"a", action::metrics, "", false},
    {"m", action::metrics, "", true},
    {"m", action::send, "orders", false},
    {"r", action::send, "any.queue", true},
    {"r", action::receive, "any.queue", true},
    {"r", action::manage, "any.queue", true},
    {"r", action::metrics, "", true},
  };
  for (auto& x : cases) {
    INFO(x.token << " " << name_of(x.what) << " " << x.queue);
    CHECK(of(set, x.token).allows(x.what, x.queue) == x.allowed);
  }
}

TEST_CASE("a token sees the queues it holds some grant on") {
  auto set = good(line("mixed", "x", "send:in.* receive:out manage:admin-?")
                  + line("metrics-only", "m", "metrics")
                  + line("root", "r", "*")
                  + line("nothing", "n", ""));
  auto& x = of(set, "x");
  CHECK(x.may_see("in.1"));
  CHECK(x.may_see("out"));
  CHECK(x.may_see("admin-1"));
  CHECK_FALSE(x.may_see("admin-12"));
  CHECK_FALSE(x.may_see("other"));
  CHECK_FALSE(of(set, "m").may_see("in.1"));
  CHECK(of(set, "r").may_see("other"));
  auto& n = of(set, "n");
  CHECK_FALSE(n.may_see("in.1"));
  CHECK_FALSE(n.allows(action::send, "in.1"));
}

TEST_CASE("comments, blank lines, tabs and CRLF are read as meant") {
  auto text = "# ActorMQ tokens\n"
              "\n"
              "   \t  \n"
              + line("a", "ta", "send:x  # the producer")
              + "b\t" + digest_hex("tb") + "\treceive:x\tmetrics\r\n"
              + "# c " + digest_hex("tc") + " *\n"
              + "d " + digest_hex("td") + " manage:x"; // no final newline
  auto set = good(text);
  CHECK(set->size() == 3);
  CHECK(of(set, "ta").allows(action::send, "x"));
  CHECK(of(set, "tb").allows(action::metrics, ""));
  CHECK(of(set, "td").allows(action::manage, "x"));
  CHECK_FALSE(set->identify("Bearer tc").token);
  CHECK(good("")->size() == 0);
  CHECK(good("# nothing yet\n")->size() == 0);
}

TEST_CASE("a malformed file is refused with its name and line") {
  auto hex = digest_hex("t");
  auto ok = line("ok", "other", "*");
  struct bad_line {
    std::string text;
    std::string says;
  };
  bad_line cases[] = {
    {"name", "SHA-256"},
    {"name " + hex.substr(1) + " *", "64 lowercase hex"},
    {"name " + hex + "0 *", "64 lowercase hex"},
    {"name " + std::string(64, 'A') + " *", "64 lowercase hex"},
    {"name " + std::string(63, 'a') + "g *", "64 lowercase hex"},
    {"name " + hex + " sned:orders", "unknown grant 'sned:orders'"},
    {"name " + hex + " send", "needs a queue glob: send:GLOB"},
    {"name " + hex + " receive:", "a GLOB is 1-80"},
    {"name " + hex + " manage:a/b", "a GLOB is 1-80"},
    {"name " + hex + " send:" + std::string(81, 'a'), "a GLOB is 1-80"},
    {"name " + hex + " metrics:orders", "unknown grant"},
    {"name " + hex + " **", "unknown grant"},
    {std::string(65, 'n') + " " + hex + " *", "token name"},
    {"na\x01me " + hex + " *", "token name 'na?me'"},
    {"ok " + hex + " *", "token name 'ok' is on line 1 already"},
    {"n2 " + digest_hex("other") + " *", "the same token as line 1"},
  };
  for (auto& c : cases) {
    INFO(c.text);
    auto err = bad(ok + "\n# two\n" + c.text + "\n" + line("z", "z", "*"));
    CHECK(err.rfind("tokens:4: ", 0) == 0);
    CHECK(err.find(c.says) != std::string::npos);
    CHECK(err.find(hex) == std::string::npos);
  }
  auto first = bad("x y z\n" + ok);
  CHECK(first.rfind("tokens:1: ", 0) == 0);
}

TEST_CASE("a file is read from disk, or its path says why not") {
  test::temp_dir dir;
  auto path = dir.path() + "/tokens";
  {
    std::ofstream out{path};
    out << line("a", "ta", "*") << "broken\n";
  }
  auto broken = token_set::load(path);
  REQUIRE(std::holds_alternative<load_error>(broken));
  CHECK(std::get<load_error>(broken).text.rfind(path + ":2: ", 0) == 0);
  {
    std::ofstream out{path};
    out << line("a", "ta", "*");
  }
  auto loaded = token_set::load(path);
  REQUIRE(loaded.index() == 0);
  CHECK(std::get<0>(loaded)->size() == 1);
  auto missing = token_set::load(dir.path() + "/none");
  REQUIRE(std::holds_alternative<load_error>(missing));
  CHECK(std::get<load_error>(missing).text
        == dir.path() + "/none: cannot be read (No such file or directory)");
}

TEST_CASE("token names are visible ASCII without #") {
  CHECK(valid_name("ci"));
  CHECK(valid_name("deploy@team-a.example"));
  CHECK(valid_name(std::string(64, 'n')));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name(std::string(65, 'n')));
  CHECK_FALSE(valid_name("a b"));
  CHECK_FALSE(valid_name("a#b"));
  CHECK_FALSE(valid_name("caf\xc3\xa9"));
}

TEST_CASE("action names are those of the grants") {
  CHECK(name_of(action::send) == "send");
  CHECK(name_of(action::receive) == "receive");
  CHECK(name_of(action::manage) == "manage");
  CHECK(name_of(action::metrics) == "metrics");
}
