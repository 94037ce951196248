-- wrk script: POSTs $BODY (with $KEY as a bearer token when set) and prints one JSON line of
-- results (latency in µs) so bench/peers.sh can tabulate wrk the same way as lucair-loadgen.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"label":"%s","concurrency":%s,"stream":false,"ok":%d,"failed":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    os.getenv("LABEL"), os.getenv("CONC"), summary.requests - summary.errors.status, failed,
    (summary.requests - summary.errors.status) / secs, latency:percentile(50), latency:percentile(99), latency.max))
end
