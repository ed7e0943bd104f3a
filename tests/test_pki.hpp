#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "temp_dir.hpp"

// Certificates for the TLS tests, made by the openssl command line tool
// (the package `openssl`) in a directory of the test's own.

namespace test {

/// A PEM certificate and its key.
struct key_pair {
  std::string cert;
  std::string key;
};

/// A CA made for one test, and certificates it signs (ECDSA P-256, valid
/// for a day).
class test_pki {
public:
  /// Makes a CA named `name`.
  explicit test_pki(const std::string& name = "ActorMQ test CA") {
    ca = dir_.path() + "/ca.pem";
    ca_key_ = dir_.path() + "/ca.key";
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 1 -subj '/CN="
        + name + "' -addext basicConstraints=critical,CA:TRUE -addext "
                 "keyUsage=critical,keyCertSign -keyout "
        + ca_key_ + " -out " + ca);
  }

  /// A server certificate for 127.0.0.1 and localhost, common name `name`.
  key_pair server(const std::string& name) {
    return issue(name, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                       "extendedKeyUsage=serverAuth\n");
  }

  /// A client certificate, common name `name`.
  key_pair client(const std::string& name) {
    return issue(name, "extendedKeyUsage=clientAuth\n");
  }

  /// A file in the PKI's directory.
  std::string path(const std::string& file) const {
    return dir_.path() + "/" + file;
  }

  /// The CA's certificate.
  std::string ca;

private:
  key_pair issue(const std::string& name, const std::string& extensions) {
    key_pair result{path(name + ".pem"), path(name + ".key")};
    auto csr = path(name + ".csr");
    auto ext = path(name + ".ext");
    run("printf '" + extensions + "' > " + ext);
    run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj '/CN="
        + name + "' -keyout " + result.key + " -out " + csr);
    run("openssl x509 -req -days 1 -in " + csr + " -CA " + ca + " -CAkey "
        + ca_key_ + " -CAcreateserial -extfile " + ext + " -out "
        + result.cert);
    return result;
  }

  static void run(const std::string& command) {
    INFO(command);
    REQUIRE(std::system((command + " 2>/dev/null").c_str()) == 0);
  }

  temp_dir dir_;
  std::string ca_key_;
};

} // namespace test
