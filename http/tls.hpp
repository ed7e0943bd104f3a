#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct bio_st;
struct ssl_ctx_st;
struct ssl_st;

/// TLS for the HTTP frontend: OpenSSL on memory buffers. The connection
/// reads and writes its socket itself and passes the bytes through a
/// tls_session, so backpressure, timeouts and the write queue work as they
/// do for plain HTTP (README, "Security").
namespace actormq::http {

/// Where a server's certificate, key and client CA come from (PEM files).
struct tls_files {
  /// The server's certificate, then any intermediates; empty: no TLS.
  std::string cert;
  /// The certificate's private key, unencrypted.
  std::string key;
  /// CA certificates that sign client certificates; empty: clients need
  /// none (else every client must present one: mutual TLS).
  std::string client_ca;
};

/// A server's TLS settings as OpenSSL holds them (an SSL_CTX): TLS 1.2 and
/// 1.3 only, the certificate and key of its files, a verified client
/// certificate required if they name a client CA. Immutable: a reload
/// builds a new one, and connections keep the one they started with.
class tls_context {
public:
  /// Loads `files`; throws std::runtime_error with a text that names the
  /// file and what is wrong with it (never OpenSSL's own error text).
  explicit tls_context(tls_files files);

  /// The files this context was loaded from.
  const tls_files& files() const {
    return files_;
  }

private:
  friend class tls_session;

  struct ctx_deleter {
    void operator()(ssl_ctx_st* x) const;
  };

  tls_files files_;
  std::unique_ptr<ssl_ctx_st, ctx_deleter> ctx_;
};

/// One connection's TLS on memory buffers: bytes read from the socket go
/// in (feed), plaintext comes out (read); plaintext to send goes in
/// (write), and the bytes to send come out (take_output). It touches no
/// socket and takes no lock: its connection's mutex guards it.
class tls_session {
public:
  /// A server session of `ctx`, waiting for a client's handshake (it
  /// holds what it needs of `ctx`: a reload may drop that).
  explicit tls_session(const tls_context& ctx);

  ~tls_session();

  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  /// Takes bytes read from the socket.
  void feed(const char* data, size_t size);

  /// Moves the handshake on with what was fed, then decrypts up to `size`
  /// bytes of it into `buf`. Returns 0 once nothing more can be decrypted
  /// now: more bytes are needed, or the session failed, or the client
  /// sent its close_notify.
  size_t read(char* buf, size_t size);

  /// Encrypts `plain` for sending; nothing before the handshake is done.
  void write(std::string_view plain);

  /// Adds a close_notify alert: nothing more is written after it.
  void close();

  /// Takes the bytes to send, in order: handshake messages, records,
  /// alerts.
  std::string take_output();

  /// Whether the handshake is done.
  bool established() const;

  /// Whether the session failed: a handshake the server refuses (another
  /// protocol, a version below TLS 1.2, a missing or unverified client
  /// certificate) or a corrupt record. Nothing but an alert is sent after
  /// that; the connection closes.
  bool failed() const {
    return failed_;
  }

private:
  void check(int result);

  /// What came from the socket and OpenSSL has not read yet (from
  /// `in_pos`), and what is to go to it. OpenSSL reaches them through a BIO
  /// of ours: the output is handed over without another copy, and neither
  /// keeps memory while the connection idles.
  struct buffers {
    std::string in;
    size_t in_pos = 0;
    std::string out;
  };

  static int bio_read(bio_st* b, char* data, int size);
  static int bio_write(bio_st* b, const char* data, int size);
  static long bio_ctrl(bio_st* b, int cmd, long num, void* ptr);

  buffers buf_;
  ssl_st* ssl_;
  bool failed_ = false;
  /// The client's close_notify came.
  bool peer_closed_ = false;
  /// Ours went.
  bool closed_ = false;
};

} // namespace actormq::http
