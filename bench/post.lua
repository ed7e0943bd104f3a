-- wrk script: one 100-byte message per request, and a latency summary line
-- that the bench scripts read. The mode (wrk's argument after --) says
-- where: enqueue (the default: POST /enqueue with a 100-byte JSON body),
-- native (POST /queues/bench/messages), json (SQS SendMessage in AWS JSON)
-- or query (SQS SendMessage in Query), each with a 100-byte message.
local payload = string.rep("x", 100)

init = function(args)
  local mode = args[1] or "enqueue"
  wrk.method = "POST"
  if mode == "json" then
    wrk.path = "/"
    wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
    wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessage"
    wrk.body = '{"QueueUrl":"http://127.0.0.1/000000000000/bench",' ..
               '"MessageBody":"' .. payload .. '"}'
  elseif mode == "query" then
    wrk.path = "/000000000000/bench"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.body = "Action=SendMessage&MessageBody=" .. payload
  elseif mode == "native" then
    wrk.path = "/queues/bench/messages"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = '{"message":"' .. payload .. '"}'
  else
    wrk.path = "/enqueue"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = '{"message":"' .. string.rep("x", 100 - 14) .. '"}'
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f errors=%d " ..
                         "p50_us=%d p99_us=%d\n",
                         summary.requests, summary.duration / 1e6,
                         summary.errors.status + summary.errors.connect +
                         summary.errors.read + summary.errors.write +
                         summary.errors.timeout,
                         latency:percentile(50), latency:percentile(99)))
end
