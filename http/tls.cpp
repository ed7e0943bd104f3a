#include "tls.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace actormq::http {

namespace {

/// Largest piece handed to SSL_read or SSL_write at once (they take ints).
constexpr size_t max_piece = size_t{1} << 20;

/// Answers OpenSSL's request for a passphrase with none (its default would
/// prompt on the terminal): an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

/// The private key in PEM file `path`; null if it holds none (or an
/// encrypted one).
std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>
read_key(const std::string& path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> result{nullptr,
                                                             EVP_PKEY_free};
  std::unique_ptr<BIO, decltype(&BIO_free)> in{BIO_new_file(path.c_str(),
                                                            "r"),
                                               BIO_free};
  if (in)
    result.reset(
      PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr));
  return result;
}

[[noreturn]] void fail(std::string text) {
  ERR_clear_error();
  throw std::runtime_error(std::move(text));
}

/// Throws unless `path` opens for reading; the text says why not.
void check_readable(const std::string& path, const char* what) {
  auto f = std::fopen(path.c_str(), "r");
  if (f == nullptr)
    fail(std::string{"cannot read the "} + what + " " + path + ": "
         + std::generic_category().message(errno));
  std::fclose(f);
}

/// The BIO type through which OpenSSL reaches a session's buffers.
BIO_METHOD* make_bio_method(int (*read)(BIO*, char*, int),
                            int (*write)(BIO*, const char*, int),
                            long (*ctrl)(BIO*, int, long, void*)) {
  auto m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                        "actormq connection");
  if (m == nullptr)
    throw std::bad_alloc{};
  BIO_meth_set_read(m, read);
  BIO_meth_set_write(m, write);
  BIO_meth_set_ctrl(m, ctrl);
  BIO_meth_set_create(m, [](BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  });
  return m;
}

} // namespace

void tls_context::ctx_deleter::operator()(ssl_ctx_st* x) const {
  SSL_CTX_free(x);
}

tls_context::tls_context(tls_files files)
  : files_(std::move(files)), ctx_(SSL_CTX_new(TLS_server_method())) {
  auto ctx = ctx_.get();
  if (ctx == nullptr)
    fail("cannot set up TLS: out of memory");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A TLS 1.2 client may not make the server do handshakes over and over.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // An idle connection gives its record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  check_readable(files_.cert, "TLS certificate");
  if (SSL_CTX_use_certificate_chain_file(ctx, files_.cert.c_str()) != 1)
    fail("the TLS certificate " + files_.cert
         + " holds no valid PEM certificate");
  check_readable(files_.key, "TLS key");
  auto key = read_key(files_.key);
  if (!key)
    fail("the TLS key " + files_.key
         + " holds no valid PEM private key (an encrypted one cannot be "
           "used)");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1
      || SSL_CTX_check_private_key(ctx) != 1)
    fail("the TLS key " + files_.key + " does not belong to the certificate "
         + files_.cert);
  if (!files_.client_ca.empty()) {
    check_readable(files_.client_ca, "TLS client CA");
    auto names = SSL_load_client_CA_file(files_.client_ca.c_str());
    if (names == nullptr || sk_X509_NAME_num(names) == 0
        || SSL_CTX_load_verify_locations(ctx, files_.client_ca.c_str(),
                                         nullptr)
             != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      fail("the TLS client CA " + files_.client_ca
           + " holds no valid PEM certificate");
    }
    // Clients learn which CAs count, and must present a certificate that
    // one of them signed.
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  // Sessions resume (verified client included) on this server only.
  static constexpr unsigned char id[] = "actormq";
  SSL_CTX_set_session_id_context(ctx, id, sizeof(id) - 1);
  ERR_clear_error();
}

tls_session::tls_session(const tls_context& ctx)
  : ssl_(SSL_new(ctx.ctx_.get())) {
  static BIO_METHOD* method = make_bio_method(bio_read, bio_write, bio_ctrl);
  auto bio = ssl_ != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::bad_alloc{};
  }
  BIO_set_data(bio, &buf_);
  // One BIO both ways: the SSL takes our one reference.
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_accept_state(ssl_);
}

tls_session::~tls_session() {
  SSL_free(ssl_);
}

void tls_session::feed(const char* data, size_t size) {
  if (!failed_)
    buf_.in.append(data, size);
}

size_t tls_session::read(char* buf, size_t size) {
  if (failed_ || peer_closed_)
    return 0;
  ERR_clear_error();
  auto n = SSL_read(ssl_, buf, static_cast<int>(std::min(size, max_piece)));
  if (n > 0)
    return static_cast<size_t>(n);
  check(n);
  return 0;
}

void tls_session::write(std::string_view plain) {
  if (failed_ || closed_ || !established())
    return;
  while (!plain.empty()) {
    ERR_clear_error();
    auto n = SSL_write(ssl_, plain.data(),
                       static_cast<int>(std::min(plain.size(), max_piece)));
    if (n <= 0) {
      check(n);
      return;
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
}

void tls_session::close() {
  if (failed_ || closed_ || !established())
    return;
  closed_ = true;
  ERR_clear_error();
  // Sends our close_notify; the client's is not waited for.
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string tls_session::take_output() {
  return std::exchange(buf_.out, std::string{});
}

bool tls_session::established() const {
  return SSL_is_init_finished(ssl_) == 1;
}

/// Sorts out the result of an SSL call that did not succeed: more input
/// needed, the client's close_notify, or a failure.
void tls_session::check(int result) {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      break;
    case SSL_ERROR_ZERO_RETURN:
      peer_closed_ = true;
      break;
    default:
      failed_ = true;
  }
  ERR_clear_error();
}

int tls_session::bio_read(bio_st* b, char* data, int size) {
  BIO_clear_retry_flags(b);
  auto& buf = *static_cast<buffers*>(BIO_get_data(b));
  auto left = buf.in.size() - buf.in_pos;
  if (left == 0) {
    // Not the end of the stream: the socket has not delivered more yet.
    BIO_set_retry_read(b);
    return -1;
  }
  auto n = std::min(left, static_cast<size_t>(std::max(size, 0)));
  std::memcpy(data, buf.in.data() + buf.in_pos, n);
  buf.in_pos += n;
  if (buf.in_pos == buf.in.size()) {
    std::string{}.swap(buf.in);
    buf.in_pos = 0;
  }
  return static_cast<int>(n);
}

int tls_session::bio_write(bio_st* b, const char* data, int size) {
  BIO_clear_retry_flags(b);
  auto& buf = *static_cast<buffers*>(BIO_get_data(b));
  buf.out.append(data, static_cast<size_t>(std::max(size, 0)));
  return size;
}

long tls_session::bio_ctrl(bio_st* b, int cmd, long, void*) {
  auto& buf = *static_cast<buffers*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(buf.in.size() - buf.in_pos);
    case BIO_CTRL_WPENDING:
      return static_cast<long>(buf.out.size());
    default:
      return 0;
  }
}

} // namespace actormq::http
