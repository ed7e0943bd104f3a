// The baseline of bench/enqueue.sh: a Pistache HTTP handler that answers
// every request with 200 and a small JSON body, touching no actor. Usage:
// bare_server PORT THREADS
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <pistache/endpoint.h>
#include <pistache/http.h>

namespace {

using namespace Pistache;

class bare : public Http::Handler {
public:
  HTTP_PROTOTYPE(bare)

  void onRequest(const Http::Request&, Http::ResponseWriter w) override {
    // Pistache 0.0.5 closes connections that did not ask for keep-alive.
    w.headers().remove<Http::Header::Connection>();
    w.headers().add<Http::Header::Connection>(
      Http::ConnectionControl::KeepAlive);
    w.send(Http::Code::Ok, R"({"success":"Message enqueued"})",
           MIME(Application, Json));
  }
};

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bare_server PORT THREADS\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Http::Endpoint endpoint{
    Address{"127.0.0.1", Port{static_cast<uint16_t>(std::atoi(argv[1]))}}};
  endpoint.init(Http::Endpoint::options()
                  .threads(std::atoi(argv[2]))
                  .flags(Tcp::Options::ReuseAddr));
  endpoint.setHandler(Http::make_handler<bare>());
  endpoint.serveThreaded();
  int sig = 0;
  sigwait(&signals, &sig);
  endpoint.shutdown();
  return 0;
}
