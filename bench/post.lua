-- wrk script: POST /enqueue with a 100-byte JSON body, and a latency
-- summary line that bench/enqueue.sh reads.
wrk.method = "POST"
wrk.path = "/enqueue"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"' .. string.rep("x", 100 - 14) .. '"}'

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f errors=%d " ..
                         "p50_us=%d p99_us=%d\n",
                         summary.requests, summary.duration / 1e6,
                         summary.errors.status + summary.errors.connect +
                         summary.errors.read + summary.errors.write +
                         summary.errors.timeout,
                         latency:percentile(50), latency:percentile(99)))
end
