#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "http_client.hpp"
#include "process.hpp"
#include "running_server.hpp"
#include "test_pki.hpp"
#include "tls.hpp"
#include "tls_client.hpp"

// TLS: the session on memory buffers, then the server over real sockets,
// then the real binary (options, SIGHUP).

using actormq::http::tls_context;
using actormq::http::tls_files;
using actormq::http::tls_session;
using std::chrono::milliseconds;
using test_clock = std::chrono::steady_clock;

namespace {

milliseconds since(test_clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(test_clock::now() - t0);
}

/// A client SSL on memory buffers, paired with a server session.
class memory_pair {
public:
  memory_pair(const tls_context& ctx, const test::tls_options& opts)
    : server(ctx), ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free) {
    if (opts.max_version != 0) {
      SSL_CTX_set_security_level(ctx_.get(), 0);
      SSL_CTX_set_min_proto_version(ctx_.get(), 0);
      SSL_CTX_set_max_proto_version(ctx_.get(), opts.max_version);
    }
    SSL_CTX_load_verify_locations(ctx_.get(), opts.ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    client_.reset(SSL_new(ctx_.get()));
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(client_.get(), in_, out_);
    SSL_set_connect_state(client_.get());
  }

  /// Moves bytes both ways until neither side has more to say; returns
  /// the plaintext the server read.
  std::string pump() {
    std::string plain;
    for (;;) {
      if (SSL_do_handshake(client_.get()) != 1)
        if (auto why = test::tls_reason(); !why.empty())
          client_error = why;
      auto to_server = drain(out_);
      server.feed(to_server.data(), to_server.size());
      char buf[4096];
      while (auto n = server.read(buf, sizeof(buf)))
        plain.append(buf, n);
      auto to_client = server.take_output();
      BIO_write(in_, to_client.data(), static_cast<int>(to_client.size()));
      if (to_server.empty() && to_client.empty())
        return plain;
    }
  }

  bool client_established() {
    return SSL_is_init_finished(client_.get()) == 1;
  }

  void client_write(const std::string& plain) {
    SSL_write(client_.get(), plain.data(), static_cast<int>(plain.size()));
  }

  /// What the client can read now; `closed` tells whether the server's
  /// close_notify came.
  std::string client_read(bool* closed = nullptr) {
    std::string result;
    char buf[4096];
    int n;
    while ((n = SSL_read(client_.get(), buf, sizeof(buf))) > 0)
      result.append(buf, static_cast<size_t>(n));
    if (closed != nullptr)
      *closed = SSL_get_error(client_.get(), n) == SSL_ERROR_ZERO_RETURN;
    return result;
  }

  tls_session server;
  /// OpenSSL's reason for the client's failed handshake ("" if none).
  std::string client_error;

private:
  static std::string drain(BIO* b) {
    std::string result(static_cast<size_t>(BIO_ctrl_pending(b)), '\0');
    if (!result.empty())
      BIO_read(b, result.data(), static_cast<int>(result.size()));
    return result;
  }

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> client_{nullptr, SSL_free};
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

/// A test CA and a server certificate ("one") it signed.
struct pki_fixture {
  test::test_pki pki;
  test::key_pair one = pki.server("one");

  tls_files files(const std::string& client_ca = {}) const {
    return tls_files{one.cert, one.key, client_ca};
  }

  test::tls_options trusting() const {
    return test::tls_options{pki.ca, {}, {}, 0};
  }
};

} // namespace

TEST_CASE_METHOD(pki_fixture, "a TLS session: handshake, both ways, close") {
  tls_context ctx{files()};
  memory_pair p{ctx, trusting()};
  CHECK(p.pump().empty());
  CHECK(p.client_established());
  CHECK(p.server.established());
  p.client_write("GET /healthz HTTP/1.1\r\n\r\n");
  CHECK(p.pump() == "GET /healthz HTTP/1.1\r\n\r\n");
  p.server.write("HTTP/1.1 200 OK\r\n\r\n");
  p.server.close();
  p.pump();
  bool closed = false;
  CHECK(p.client_read(&closed) == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(closed);
  CHECK_FALSE(p.server.failed());
}

TEST_CASE_METHOD(pki_fixture, "plain HTTP fails a session, nothing answers") {
  tls_context ctx{files()};
  tls_session s{ctx};
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  s.feed(request.data(), request.size());
  char buf[64];
  CHECK(s.read(buf, sizeof(buf)) == 0);
  CHECK(s.failed());
  CHECK(s.take_output().empty());
  // Nothing is written after a failure.
  s.write("HTTP/1.1 400 Bad Request\r\n\r\n");
  CHECK(s.take_output().empty());
}

TEST_CASE_METHOD(pki_fixture, "a session refuses TLS 1.1 with an alert") {
  tls_context ctx{files()};
  auto opts = trusting();
  opts.max_version = TLS1_1_VERSION;
  memory_pair p{ctx, opts};
  p.pump();
  CHECK(p.server.failed());
  CHECK_FALSE(p.client_established());
  CHECK(p.client_error == "tlsv1 alert protocol version");
}

TEST_CASE_METHOD(pki_fixture, "bad files make no context, and say which") {
  auto check_refused = [](const tls_files& f, const std::string& text) {
    INFO(text);
    try {
      tls_context ctx{f};
      FAIL("loaded");
    } catch (const std::runtime_error& e) {
      CHECK(std::string{e.what()} == text);
    }
  };
  auto missing = pki.path("missing.pem");
  check_refused({missing, one.key, ""},
                "cannot read the TLS certificate " + missing
                  + ": No such file or directory");
  check_refused({one.key, one.key, ""},
                "the TLS certificate " + one.key
                  + " holds no valid PEM certificate");
  check_refused({one.cert, one.cert, ""},
                "the TLS key " + one.cert
                  + " holds no valid PEM private key (an encrypted one "
                    "cannot be used)");
  auto two = pki.server("two");
  check_refused({one.cert, two.key, ""},
                "the TLS key " + two.key
                  + " does not belong to the certificate " + one.cert);
  check_refused({one.cert, one.key, one.key},
                "the TLS client CA " + one.key
                  + " holds no valid PEM certificate");
  // An encrypted key is refused, not prompted for.
  auto encrypted = pki.path("encrypted.key");
  REQUIRE(std::system(("openssl pkey -in " + one.key
                       + " -aes128 -passout pass:secret -out " + encrypted)
                        .c_str())
          == 0);
  check_refused({one.cert, encrypted, ""},
                "the TLS key " + encrypted
                  + " holds no valid PEM private key (an encrypted one "
                    "cannot be used)");
}

namespace {

/// The real server over TLS, with timeouts of 200 ms for headers (and the
/// handshake), 400 ms for a request, 300 ms idle.
struct tls_fixture : pki_fixture {
  std::unique_ptr<test::running_server> srv;

  /// Starts the server; `tune` changes its settings further.
  void start(const std::string& client_ca = {},
             const test::running_server::tuning& tune = nullptr) {
    auto ctx = std::make_shared<const tls_context>(files(client_ca));
    srv = std::make_unique<test::running_server>(
      64, 0, nullptr, [&](actormq::http::server_config& c) {
        c.tls = ctx;
        c.header_timeout = milliseconds{200};
        c.request_timeout = milliseconds{400};
        c.idle_timeout = milliseconds{300};
        if (tune)
          tune(c);
      });
  }

  uint16_t port() {
    return srv->port();
  }

  /// A client that trusts the test CA, connected and past its handshake.
  std::unique_ptr<test::tls_client> connect() {
    return std::make_unique<test::tls_client>(port(), trusting());
  }

  /// Whether a new client gets GET /healthz served within 2 s, trying
  /// again while it is refused (a closed connection is not forgotten at
  /// once).
  bool served_when_room() {
    auto deadline = test_clock::now() + milliseconds{2000};
    while (test_clock::now() < deadline) {
      try {
        if (connect()->request("GET", "/healthz").status == 200)
          return true;
      } catch (const std::runtime_error&) {
        // Refused.
      }
    }
    return false;
  }
};

/// What a plain client reads until the server closes (or 5 s pass).
std::string read_to_end(test::http_client& c) {
  std::string result;
  try {
    for (;;)
      result += c.read_response().body;
  } catch (const std::runtime_error&) {
    // The end.
  }
  return result;
}

/// Runs `command`; returns its standard output.
std::string run(const std::string& command) {
  std::string result;
  auto f = ::popen(command.c_str(), "r");
  REQUIRE(f != nullptr);
  std::array<char, 4096> buf;
  while (auto n = std::fread(buf.data(), 1, buf.size(), f))
    result.append(buf.data(), n);
  ::pclose(f);
  return result;
}

} // namespace

TEST_CASE_METHOD(tls_fixture, "HTTPS: curl with the test CA") {
  start();
  auto url = "https://127.0.0.1:" + std::to_string(port());
  CHECK(run("curl -s --cacert " + pki.ca + " " + url + "/healthz")
        == R"({"data":"ok"})");
  CHECK(run("curl -s --cacert " + pki.ca + " " + url
            + "/enqueue -H 'Content-Type: application/json' "
              "-d '{\"message\":\"over TLS\"}'")
        == R"({"success":"Message enqueued","id":1})");
  // Without the CA curl does not trust the server.
  CHECK(run("curl -s -o /dev/null -w '%{http_code}' " + url + "/healthz")
        == "000");
  auto c = connect();
  CHECK(c->version() == "TLSv1.3");
  CHECK(c->peer_name() == "one");
}

TEST_CASE_METHOD(tls_fixture, "TLS 1.2 and 1.3 are served, 1.1 is refused") {
  start();
  auto opts = trusting();
  opts.max_version = TLS1_2_VERSION;
  test::tls_client v12{port(), opts};
  CHECK(v12.version() == "TLSv1.2");
  CHECK(v12.request("GET", "/healthz").status == 200);
  for (auto old : {TLS1_1_VERSION, TLS1_VERSION}) {
    opts.max_version = old;
    try {
      test::tls_client c{port(), opts};
      FAIL("handshake succeeded");
    } catch (const std::runtime_error& e) {
      CHECK(std::string{e.what()}
            == "handshake failed: tlsv1 alert protocol version");
    }
  }
}

TEST_CASE_METHOD(tls_fixture, "keep-alive and pipelining over TLS") {
  start();
  auto c = connect();
  for (int i = 1; i <= 3; ++i)
    CHECK(c->enqueue_json(R"({"message":"k"})").body
          == R"({"success":"Message enqueued","id":)" + std::to_string(i)
               + "}");
  c->send_raw(test::three_pipelined);
  CHECK(c->read_response().body == R"({"success":"Message enqueued","id":4})");
  CHECK(c->read_response().body == R"({"data":"ok"})");
  CHECK(c->read_response().body == R"({"success":"Message enqueued","id":5})");
  // Connection: close gets its reply, a close_notify and the end.
  auto r = c->request("GET", "/healthz", {}, "Connection: close\r\n");
  CHECK(r.status == 200);
  CHECK(c->closed_by_server());
}

TEST_CASE_METHOD(tls_fixture, "plain HTTP to the TLS port is closed at once") {
  start();
  for (auto request : {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                       "POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 15\r\n\r\n{\"message\":\"a\"}",
                       "garbage\r\n"}) {
    INFO(request);
    test::http_client c{port()};
    auto t0 = test_clock::now();
    c.send_raw(request);
    CHECK(read_to_end(c).empty());
    CHECK(since(t0) < milliseconds{1000});
  }
  // A failed handshake holds no connection: with room for one, each of
  // these is served after the one before.
  start({}, [](actormq::http::server_config& c) { c.max_connections = 1; });
  for (int i = 0; i < 5; ++i) {
    {
      test::http_client plain{port()};
      plain.send_raw("GET / HTTP/1.1\r\n\r\n");
      CHECK(plain.closed_by_server());
    }
    CHECK(served_when_room());
  }
}

TEST_CASE_METHOD(tls_fixture, "mutual TLS: a client certificate of the CA") {
  test::test_pki other{"Another CA"};
  start(pki.ca);
  auto mine = pki.client("client");
  auto theirs = other.client("stranger");
  auto opts = trusting();
  opts.cert = mine.cert;
  opts.key = mine.key;
  for (auto version : {0, TLS1_2_VERSION}) {
    INFO("max version " << version);
    opts.max_version = version;
    auto refused = opts;
    refused.cert.clear();
    refused.key.clear();
    // TLS 1.3 clients finish first and read the server's alert later;
    // TLS 1.2 clients learn of it in the handshake.
    auto fails = [&](const test::tls_options& o, const std::string& why) {
      try {
        test::tls_client c{port(), o};
        CHECK_THROWS(c.read_response());
        CHECK(c.last_error().find(why) != std::string::npos);
      } catch (const std::runtime_error& e) {
        CHECK(std::string{e.what()}.find(why) != std::string::npos);
      }
    };
    test::tls_client ok{port(), opts};
    CHECK(ok.request("GET", "/healthz").status == 200);
    fails(refused, version == 0 ? "certificate required"
                                : "handshake failure");
    auto stranger = opts;
    stranger.cert = theirs.cert;
    stranger.key = theirs.key;
    fails(stranger, "unknown ca");
  }
}

TEST_CASE_METHOD(tls_fixture, "a handshake that never ends is closed in time") {
  start({}, [](actormq::http::server_config& c) {
    c.header_timeout = milliseconds{1000};
    c.request_timeout = milliseconds{1000};
  });
  // One sends nothing, one part of a ClientHello: neither holds the
  // others up, and the header timeout closes both without a byte.
  test::http_client silent{port()};
  test::http_client partial{port()};
  auto t0 = test_clock::now();
  partial.send_raw(std::string{"\x16\x03\x01\x02\x00\x01", 6});
  for (int i = 0; i < 3; ++i)
    CHECK(connect()->request("GET", "/healthz").status == 200);
  CHECK(since(t0) < milliseconds{800});
  CHECK(silent.closed_by_server());
  CHECK(partial.closed_by_server());
  CHECK(since(t0) >= milliseconds{900});
  CHECK(since(t0) < milliseconds{2500});
}

TEST_CASE_METHOD(tls_fixture, "the hardening timeouts hold over TLS") {
  start();
  SECTION("headers that stall get 408") {
    auto c = connect();
    auto t0 = test_clock::now();
    c->send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    auto r = c->read_response();
    CHECK(r.status == 408);
    CHECK(r.header("connection") == "close");
    CHECK(c->closed_by_server());
    CHECK(since(t0) < milliseconds{1500});
  }
  SECTION("a body trickled byte by byte is cut off") {
    auto c = connect();
    c->send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: 60\r\n\r\n");
    auto t0 = test_clock::now();
    // A byte every 20 ms until the server answers (one thread: an SSL
    // object is not for two).
    for (int i = 0; i < 60 && !c->readable(20); ++i)
      c->send_raw(" ");
    CHECK(c->read_response().status == 408);
    CHECK(since(t0) >= milliseconds{300});
    CHECK(since(t0) < milliseconds{1500});
  }
  SECTION("an idle keep-alive connection is closed") {
    auto c = connect();
    CHECK(c->request("GET", "/healthz").status == 200);
    std::this_thread::sleep_for(milliseconds{150});
    CHECK(c->request("GET", "/healthz").status == 200);
    auto t0 = test_clock::now();
    CHECK(c->closed_by_server());
    CHECK(since(t0) >= milliseconds{250});
    CHECK(since(t0) < milliseconds{1500});
  }
}

TEST_CASE_METHOD(tls_fixture, "size limits and 100-continue hold over TLS") {
  start();
  SECTION("headers past --max-header-bytes get 431") {
    auto c = connect();
    auto r = c->request("GET", "/healthz", {},
                        "X-Big: " + std::string(4096, 'a') + "\r\n");
    CHECK(r.status == 431);
    CHECK(r.body.find("Request headers are too large") != std::string::npos);
    CHECK(c->closed_by_server());
  }
  SECTION("a body past the limit gets 413, read by a client still sending") {
    auto c = connect();
    c->send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: 100000000\r\n\r\n");
    // The client sends on (1 MiB) while the server answers: the server
    // reads and discards it, so the answer is not lost to a reset.
    std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 16; ++i)
      c->send_raw(chunk);
    auto r = c->read_response();
    CHECK(r.status == 413);
    CHECK(r.body.find("--max-message-bytes") != std::string::npos);
    CHECK(r.header("connection") == "close");
  }
  SECTION("Expect: 100-continue gets its interim, then the answer") {
    auto c = connect();
    c->send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                "Expect: 100-continue\r\nContent-Length: 15\r\n\r\n");
    CHECK(c->read_response().status == 100);
    c->send_raw(R"({"message":"a"})");
    CHECK(c->read_response().status == 200);
    CHECK(c->request("GET", "/healthz").status == 200);
  }
}

TEST_CASE_METHOD(tls_fixture, "past --max-connections TLS closes at once") {
  start({}, [](actormq::http::server_config& c) { c.max_connections = 2; });
  auto a = connect();
  auto b = connect();
  {
    test::http_client extra{port()};
    auto t0 = test_clock::now();
    CHECK(extra.closed_by_server());
    CHECK(since(t0) < milliseconds{500});
  }
  CHECK(a->request("GET", "/healthz").status == 200);
  CHECK(b->request("GET", "/healthz").status == 200);
  // Room returns as connections close (the refused one included).
  a.reset();
  CHECK(served_when_room());
}

namespace {

/// Sends pipelined requests on `c` and never reads, for 1.5 s or until
/// the socket stays full for 300 ms; returns the bytes sent.
size_t pipeline_without_reading(test::tls_client& c) {
  c.send_timeout(300);
  std::string batch;
  while (batch.size() < 64 * 1024)
    batch += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t sent = 0;
  auto t0 = test_clock::now();
  try {
    while (since(t0) < milliseconds{1500}) {
      c.send_raw(batch);
      sent += batch.size();
    }
  } catch (const std::runtime_error&) {
    // The socket stayed full: the server stopped reading.
  }
  return sent;
}

} // namespace

TEST_CASE_METHOD(tls_fixture, "a TLS pipeliner that never reads is held") {
  start({}, [](actormq::http::server_config& c) {
    c.header_timeout = milliseconds{10000};
    c.request_timeout = milliseconds{10000};
  });
  auto c = connect();
  auto before = test::heap_bytes();
  auto sent = pipeline_without_reading(*c);
  std::this_thread::sleep_for(milliseconds{200});
  auto grown = test::heap_bytes() - std::min(before, test::heap_bytes());
  WARN("the pipeliner sent " << sent / 1024 << " KiB; the heap grew by "
                             << grown / 1024 << " KiB");
  CHECK(grown < 64u * 1024 * 1024);
  CHECK(connect()->request("GET", "/healthz").status == 200);
}

TEST_CASE_METHOD(tls_fixture, "a TLS client that never reads is reset") {
  start({}, [](actormq::http::server_config& c) {
    c.header_timeout = milliseconds{10000};
    c.request_timeout = milliseconds{10000};
    c.idle_timeout = milliseconds{10000};
    c.send_timeout = milliseconds{300};
    c.max_connections = 2;
  });
  auto other = connect();
  auto pipeliner = connect();
  pipeline_without_reading(*pipeliner);
  // Past --send-timeout the server let go of it: beside `other`, the limit
  // of two has room.
  std::this_thread::sleep_for(milliseconds{1000});
  CHECK(served_when_room());
  CHECK(other->request("GET", "/healthz").status == 200);
}

namespace {

/// Copies `from` to `to` (replacing it).
void copy(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(
    from, to, std::filesystem::copy_options::overwrite_existing);
}

} // namespace

TEST_CASE_METHOD(pki_fixture, "TLS options are checked before the start") {
  test::temp_dir dir;
  auto two = pki.server("two");
  auto missing = pki.path("missing.pem");
  struct refusal {
    std::vector<std::string> args;
    std::string text;
  };
  std::vector<refusal> cases{
    {{"--tls-cert=" + one.cert},
     "--tls-cert and --tls-key go together: give both or neither"},
    {{"--tls-key=" + one.key},
     "--tls-cert and --tls-key go together: give both or neither"},
    {{"--tls-client-ca=" + pki.ca},
     "--tls-client-ca needs --tls-cert and --tls-key"},
    {{"--tls-cert=" + missing, "--tls-key=" + one.key},
     "cannot read the TLS certificate " + missing
       + ": No such file or directory"},
    {{"--tls-cert=" + one.cert, "--tls-key=" + two.key},
     "the TLS key " + two.key + " does not belong to the certificate "
       + one.cert},
    {{"--tls-cert=" + one.cert, "--tls-key=" + one.key,
      "--tls-client-ca=" + one.key},
     "the TLS client CA " + one.key + " holds no valid PEM certificate"},
  };
  for (auto& x : cases) {
    INFO(x.text);
    x.args.push_back(dir.option());
    test::process p{x.args};
    CHECK(p.wait_exit(std::chrono::seconds{10}) == 2);
    CHECK(p.output().find("actormq: invalid configuration: " + x.text)
          != std::string::npos);
    // Never OpenSSL's own texts ("error:0480006C:PEM routines::...").
    CHECK(p.output().find("routines") == std::string::npos);
  }
}

TEST_CASE_METHOD(pki_fixture, "SIGHUP reloads the certificate") {
  test::temp_dir dir;
  auto two = pki.server("two");
  auto cert = pki.path("live.pem");
  auto key = pki.path("live.key");
  copy(one.cert, cert);
  copy(one.key, key);
  test::process p{{"--host=127.0.0.1", "--port=0", dir.option(),
                   "--tls-cert=" + cert, "--tls-key=" + key}};
  auto port = p.port_from_log();
  CHECK(p.output().find("(HTTPS)") != std::string::npos);
  test::tls_client before{port, trusting()};
  CHECK(before.peer_name() == "one");
  CHECK(before.request("GET", "/healthz").status == 200);
  // Renewed: the files change, then SIGHUP.
  copy(two.cert, cert);
  copy(two.key, key);
  p.signal(SIGHUP);
  CHECK_FALSE(p.wait_for_line("TLS certificate and key reloaded").empty());
  CHECK(test::tls_client{port, trusting()}.peer_name() == "two");
  // An open connection keeps going.
  CHECK(before.request("GET", "/healthz").status == 200);
  // A broken file is refused; the last good certificate stays.
  std::ofstream{cert} << "not a certificate\n";
  p.signal(SIGHUP);
  auto refused = p.wait_for_line("TLS reload refused");
  CHECK(refused.find("the old certificate stays: the TLS certificate "
                     + cert + " holds no valid PEM certificate")
        != std::string::npos);
  test::tls_client after{port, trusting()};
  CHECK(after.peer_name() == "two");
  CHECK(after.request("GET", "/healthz").status == 200);
  p.signal(SIGTERM);
  CHECK(p.wait_exit(std::chrono::seconds{5}) == 0);
}
