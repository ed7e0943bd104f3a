#pragma once

// http_client over TLS (OpenSSL, blocking), for tests: it verifies the
// server against a test CA, may present a client certificate, and may be
// held to old protocol versions.

#include <cerrno>
#include <csignal>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http_client.hpp"

namespace test {

/// How a tls_client connects.
struct tls_options {
  /// The CA that signed the server's certificate (verified, with the
  /// address 127.0.0.1); empty: no verification.
  std::string ca;
  /// A client certificate and its key; empty: none.
  std::string cert;
  std::string key;
  /// Newest protocol version offered (e.g. TLS1_1_VERSION); 0: TLS 1.3.
  int max_version = 0;
};

/// Holds SIGPIPE back on this thread while it lives, and takes any that
/// came: OpenSSL writes (records, alerts) with a plain write(), which
/// raises SIGPIPE on a socket the server closed, where MSG_NOSIGNAL would
/// not.
class no_sigpipe {
public:
  no_sigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }

  ~no_sigpipe() {
    timespec none{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &none) > 0)
      continue;
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

  no_sigpipe(const no_sigpipe&) = delete;
  no_sigpipe& operator=(const no_sigpipe&) = delete;

private:
  sigset_t pipe_;
  sigset_t old_;
};

/// OpenSSL's reason for the last failure on this thread ("" if none).
inline std::string tls_reason() {
  auto code = ERR_peek_last_error();
  auto text = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return text != nullptr ? text : "";
}

class tls_client : public http_client {
public:
  /// Connects to 127.0.0.1:port and completes the handshake; throws
  /// std::runtime_error with OpenSSL's reason if it fails.
  tls_client(uint16_t port, const tls_options& opts)
    : http_client(port), ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free) {
    auto ctx = ctx_.get();
    if (opts.max_version != 0) {
      // Old versions need OpenSSL's lowest security level to be offered
      // at all: the refusal must come from the server.
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_min_proto_version(ctx, 0);
      SSL_CTX_set_max_proto_version(ctx, opts.max_version);
    }
    if (!opts.ca.empty()) {
      SSL_CTX_load_verify_locations(ctx, opts.ca.c_str(), nullptr);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1");
    }
    if (!opts.cert.empty()
        && (SSL_CTX_use_certificate_chain_file(ctx, opts.cert.c_str()) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, opts.key.c_str(),
                                           SSL_FILETYPE_PEM)
                 != 1))
      throw std::runtime_error("client certificate: " + tls_reason());
    ssl_.reset(SSL_new(ctx));
    SSL_set_fd(ssl_.get(), fd_);
    ERR_clear_error();
    no_sigpipe guard;
    if (SSL_connect(ssl_.get()) != 1)
      throw std::runtime_error("handshake failed: " + tls_reason());
  }

  /// The negotiated protocol, e.g. "TLSv1.3".
  std::string version() const {
    return SSL_get_version(ssl_.get());
  }

  /// The common name of the server's certificate.
  std::string peer_name() const {
    std::unique_ptr<X509, decltype(&X509_free)> cert{
      SSL_get1_peer_certificate(ssl_.get()), X509_free};
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()),
                              NID_commonName, name, sizeof(name));
    return name;
  }

  /// OpenSSL's reason for the last failed read ("" if none).
  const std::string& last_error() const {
    return last_error_;
  }

protected:
  long send_some(const char* data, size_t size) override {
    no_sigpipe guard;
    ERR_clear_error();
    auto n = SSL_write(ssl_.get(), data, static_cast<int>(size));
    return n > 0 ? n : -1;
  }

  /// A close_notify or a closed socket is the end (0); an alert from the
  /// server too, and last_error() says which.
  long receive_some(char* buf, size_t size) override {
    no_sigpipe guard;
    ERR_clear_error();
    errno = 0;
    auto n = SSL_read(ssl_.get(), buf, static_cast<int>(size));
    if (n > 0)
      return n;
    auto err = SSL_get_error(ssl_.get(), n);
    last_error_ = tls_reason();
    if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
      return -1;
    return 0;
  }

private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, SSL_free};
  std::string last_error_;
};

} // namespace test
