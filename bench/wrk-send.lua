-- wrk script of the API bench's single sends (bench/api-wrk.ts): each wrk thread sends its
-- share of WRK_MESSAGES distinct messages, one per POST /api/v1/messages (the same message
-- as bench/api-load.ts's benchMessage: ~1 KB of text, its own recipient and subject), counts
-- the 202s, and stops once its share is answered, saying so on stdout: wrk itself runs for
-- its -d, so the caller then sends SIGINT, on which wrk reports at once. done() prints one
-- JSON line with the wall time from the first request to the last answer (LuaJIT's ffi).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } pl_timespec;
  int clock_gettime(int clk, pl_timespec *tp);
]]
local function now_us()
  local ts = ffi.new("pl_timespec")
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable between wrk's threads
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local total = tonumber(os.getenv("WRK_MESSAGES"))
local nthreads = tonumber(os.getenv("WRK_THREADS"))
local key = os.getenv("WRK_KEY")
-- Message numbers start after this (a warm-up run before the measured one uses others).
local offset = tonumber(os.getenv("WRK_FIRST") or "0")
local text = string.rep("This is a line of the benchmark message body, about sixty bytes.\\n", 15)

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- The last thread takes the remainder.
  local base = math.floor(total / nthreads)
  share = (index == nthreads - 1) and (total - base * index) or base
  first = offset + index * base
  sent, answered, accepted, started, finished = 0, 0, 0, 0, 0
  failure = ""
  wrk.method = "POST"
  wrk.path = "/api/v1/messages"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if started == 0 then started = now_us() end
  sent = sent + 1
  local n = first + sent
  return wrk.format(nil, nil, nil, '{"from":"Bench <bench@bench.example>","to":["' .. n .. 'rcpt@sink.example"],"subject":"Bench message ' .. n
    .. '","text":"Hello ' .. n .. ',\\n\\n' .. text .. '","tags":["bench"]}')
end

function response(status, headers, body)
  answered = answered + 1
  if status == 202 then accepted = accepted + 1
  elseif failure == "" then failure = status .. " " .. string.sub(body or "", 1, 200) end
  if answered == share then
    finished = now_us()
    io.write("POSTLINE_WRK_THREAD_DONE\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local a, ans, s, f, why = 0, 0, nil, 0, ""
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    ans = ans + t:get("answered")
    local ts, tf = t:get("started"), t:get("finished")
    if ts > 0 and (s == nil or ts < s) then s = ts end
    if tf > f then f = tf end
    if why == "" then why = t:get("failure") end
  end
  io.write(string.format('POSTLINE_WRK {"answered":%d,"accepted":%d,"elapsedUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"errors":%d,"failure":"%s"}\n',
    ans, a, (s and f > s) and (f - s) or 0, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    (why:gsub('[%c"\\]', ' '))))
end
