// HTTP load client for the full cycle: PRODUCERS threads enqueue and
// CONSUMERS threads receive and ack, each over its own keep-alive
// connection, until MESSAGES messages went through. Prints messages/s.
//
//   cycle_client PORT QUEUE MESSAGES BATCH [PRODUCERS] [CONSUMERS]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../tests/http_client.hpp"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: cycle_client PORT QUEUE MESSAGES BATCH "
                         "[PRODUCERS] [CONSUMERS]\n");
    return 2;
  }
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  std::string path = std::string{"/queues/"} + argv[2];
  auto total = std::strtoll(argv[3], nullptr, 10);
  auto batch = std::atoi(argv[4]);
  auto producers = argc > 5 ? std::atoi(argv[5]) : 8;
  auto consumers = argc > 6 ? std::atoi(argv[6]) : 8;
  const std::string json_header = "Content-Type: application/json\r\n";
  const std::string msg = R"({"message":")" + std::string(86, 'x') + R"("})";
  std::string body = R"({"messages":[)";
  for (int i = 0; i < batch; ++i)
    body += (i ? "," : "") + msg;
  body += "]}";
  std::atomic<long long> to_produce{total};
  std::atomic<long long> consumed{0};
  std::atomic<bool> failed{false};
  std::atomic<long long> end_ns{0};
  std::vector<std::thread> threads;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < producers; ++i)
    threads.emplace_back([&] {
      test::http_client c{port};
      while (to_produce.fetch_sub(batch) > 0)
        if (c.request("POST", path + "/messages", body, json_header).status
            != 200)
          failed = true;
    });
  auto receive_body = R"({"max":)" + std::to_string(batch)
                      + R"(,"wait_seconds":1})";
  for (int i = 0; i < consumers; ++i)
    threads.emplace_back([&] {
      test::http_client c{port};
      while (consumed.load() < total && !failed) {
        auto r = c.request("POST", path + "/receive", receive_body,
                           json_header);
        // Receipts are plain "<id>.<n>": cheaper to pick out than to parse
        // the whole reply, so the client leaves the cores to the server.
        std::string ack = R"({"receipts":[)";
        long long n = 0;
        constexpr std::string_view key = R"("receipt":")";
        for (auto pos = r.body.find(key); pos != std::string::npos;
             pos = r.body.find(key, pos)) {
          pos += key.size();
          auto end = r.body.find('"', pos);
          ack += (n++ ? ",\"" : "\"") + r.body.substr(pos, end - pos) + "\"";
        }
        if (n == 0)
          continue;
        ack += "]}";
        if (c.request("POST", path + "/ack", ack, json_header).status != 200)
          failed = true;
        if (consumed.fetch_add(n) < total && consumed.load() >= total)
          end_ns = std::chrono::steady_clock::now().time_since_epoch().count();
      }
    });
  for (auto& t : threads)
    t.join();
  auto end = std::chrono::steady_clock::time_point{
    std::chrono::steady_clock::duration{end_ns.load()}};
  auto secs = std::chrono::duration<double>(end - t0).count();
  if (failed) {
    std::fprintf(stderr, "a request failed\n");
    return 1;
  }
  std::printf("%.0f\n", static_cast<double>(consumed.load()) / secs);
  return 0;
}
