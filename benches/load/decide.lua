-- wrk script for `rollguard serve`: POST one snapshot to /v1/decide and count
-- every response outside 2xx.
--
-- The snapshot path is the first script argument (`wrk ... URL -- PATH`), else
-- $ROLLGUARD_SNAPSHOT, else the error-spike example relative to the repository root.
--
-- At the end it prints wrk's own error counters, the number of non-2xx responses,
-- and one machine-readable line:
--   RESULT requests=N seconds=S rps=R p50_us=.. p90_us=.. p99_us=.. max_us=.. non2xx=N errors=N
-- The percentiles come from the histogram wrk prints, which wrk 4 corrects for coordinated
-- omission (synthetic samples for responses slower than the mean interval per connection).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local function read_file(path)
   local f, err = io.open(path, "rb")
   if not f then
      error("decide.lua: cannot read the snapshot: " .. tostring(err))
   end
   local data = f:read("*a")
   f:close()
   return data
end

function init(args)
   local path = args[1] or os.getenv("ROLLGUARD_SNAPSHOT")
      or "examples/error-spike-with-outage/snapshots/spike.json"
   wrk.method = "POST"
   wrk.path = "/v1/decide"
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = read_file(path)
   non2xx = 0
   first_bad = ""
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local non = 0
   local bad = ""
   for _, t in ipairs(threads) do
      non = non + (t:get("non2xx") or 0)
      local b = t:get("first_bad")
      if bad == "" and b and b ~= "" then bad = b end
   end
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "socket errors: connect %d, read %d, write %d, timeout %d\n",
      e.connect, e.read, e.write, e.timeout))
   io.write(string.format("non-2xx responses: %d\n", non))
   if bad ~= "" then
      io.write("first non-2xx response: " .. bad .. "\n")
   end
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, non, errors))
end
