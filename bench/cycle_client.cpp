// HTTP load client for the full cycle: PRODUCERS threads enqueue and
// CONSUMERS threads receive and ack, each over its own keep-alive
// connection, until MESSAGES messages went through. Prints messages/s.
// PROTOCOL: native (the REST API, default), json (SQS's AWS JSON:
// SendMessageBatch, ReceiveMessage, DeleteMessageBatch) or query (the same
// in SQS's Query protocol); with SQS, BATCH is at most 10.
//
//   cycle_client PORT QUEUE MESSAGES BATCH [PRODUCERS] [CONSUMERS] [PROTOCOL]
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
                         "[PRODUCERS] [CONSUMERS] [native|json|query]\n");
    return 2;
  }
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  std::string path = std::string{"/queues/"} + argv[2];
  auto total = std::strtoll(argv[3], nullptr, 10);
  auto batch = std::atoi(argv[4]);
  auto producers = argc > 5 ? std::atoi(argv[5]) : 8;
  auto consumers = argc > 6 ? std::atoi(argv[6]) : 8;
  std::string protocol = argc > 7 ? argv[7] : "native";
  auto sqs = protocol != "native";
  const std::string payload(86, 'x');
  // What each protocol sends and reads.
  std::string header = "Content-Type: application/json\r\n";
  std::string send_path = path + "/messages";
  std::string receive_path = path + "/receive";
  std::string ack_path = path + "/ack";
  std::string body = R"({"messages":[)";
  for (int i = 0; i < batch; ++i)
    body += std::string{i ? "," : ""} + R"({"message":")" + payload + R"("})";
  body += "]}";
  auto receive_body = R"({"max":)" + std::to_string(batch)
                      + R"(,"wait_seconds":1})";
  std::string_view receipt_start = R"("receipt":")";
  std::string_view receipt_end = "\"";
  auto queue_url = "http://127.0.0.1/000000000000/" + std::string{argv[2]};
  std::string send_header = header;
  std::string receive_header = header;
  std::string ack_header = header;
  if (protocol == "json") {
    auto target = [](const char* action) {
      return std::string{"Content-Type: application/x-amz-json-1.0\r\n"
                         "X-Amz-Target: AmazonSQS."}
             + action + "\r\n";
    };
    send_path = receive_path = ack_path = "/";
    send_header = target("SendMessageBatch");
    receive_header = target("ReceiveMessage");
    ack_header = target("DeleteMessageBatch");
    body = R"({"QueueUrl":")" + queue_url + R"(","Entries":[)";
    for (int i = 0; i < batch; ++i)
      body += std::string{i ? "," : ""} + R"({"Id":")" + std::to_string(i)
              + R"(","MessageBody":")" + payload + R"("})";
    body += "]}";
    receive_body = R"({"QueueUrl":")" + queue_url
                   + R"(","MaxNumberOfMessages":)" + std::to_string(batch)
                   + R"(,"WaitTimeSeconds":1})";
    receipt_start = R"("ReceiptHandle":")";
  } else if (protocol == "query") {
    send_path = receive_path = ack_path = "/000000000000/"
                                          + std::string{argv[2]};
    send_header = receive_header = ack_header =
      "Content-Type: application/x-www-form-urlencoded\r\n";
    body = "Action=SendMessageBatch";
    for (int i = 1; i <= batch; ++i) {
      auto entry = "&SendMessageBatchRequestEntry." + std::to_string(i);
      body += entry + ".Id=" + std::to_string(i) + entry
              + ".MessageBody=" + payload;
    }
    receive_body = "Action=ReceiveMessage&MaxNumberOfMessages="
                   + std::to_string(batch) + "&WaitTimeSeconds=1";
    receipt_start = "<ReceiptHandle>";
    receipt_end = "<";
  } else if (sqs) {
    std::fprintf(stderr, "PROTOCOL is native, json or query\n");
    return 2;
  }
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
        if (c.request("POST", send_path, body, send_header).status != 200)
          failed = true;
    });
  for (int i = 0; i < consumers; ++i)
    threads.emplace_back([&] {
      test::http_client c{port};
      while (consumed.load() < total && !failed) {
        auto r = c.request("POST", receive_path, receive_body,
                           receive_header);
        // Receipts are picked out of the reply rather than parsed with it,
        // so the client leaves the cores to the server.
        std::vector<std::string> receipts;
        for (auto pos = r.body.find(receipt_start); pos != std::string::npos;
             pos = r.body.find(receipt_start, pos)) {
          pos += receipt_start.size();
          auto end = r.body.find(receipt_end, pos);
          receipts.push_back(r.body.substr(pos, end - pos));
        }
        auto n = static_cast<long long>(receipts.size());
        if (n == 0)
          continue;
        std::string ack;
        if (protocol == "json") {
          ack = R"({"QueueUrl":")" + queue_url + R"(","Entries":[)";
          for (long long i = 0; i < n; ++i)
            ack += std::string{i ? "," : ""} + R"({"Id":")" + std::to_string(i)
                   + R"(","ReceiptHandle":")" + receipts[i] + "\"}";
          ack += "]}";
        } else if (protocol == "query") {
          ack = "Action=DeleteMessageBatch";
          for (long long i = 1; i <= n; ++i) {
            auto entry = "&DeleteMessageBatchRequestEntry."
                         + std::to_string(i);
            ack += entry + ".Id=" + std::to_string(i) + entry
                   + ".ReceiptHandle=" + receipts[i - 1];
          }
        } else {
          ack = R"({"receipts":[)";
          for (long long i = 0; i < n; ++i)
            ack += (i ? ",\"" : "\"") + receipts[i] + "\"";
          ack += "]}";
        }
        auto a = c.request("POST", ack_path, ack, ack_header);
        // An SQS batch answers 200 with its failed entries listed.
        if (a.status != 200
            || (sqs
                && (a.body.find("BatchResultErrorEntry") != std::string::npos
                    || a.body.find(R"("Failed":[{)") != std::string::npos)))
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
