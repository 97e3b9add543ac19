-- Check-ins as a stock ESP8266 sends them (docs/reference/stock-clients.md §1.1): the full
-- x-ESP8266-* header set in the core 3.x order, one STA MAC per device.
--
--   wrk -s checkin.lua URL -- STYLE PATH DEVICES MAC_BASE STRIDE VERSION MD5
--
-- STYLE     "close": HTTP/1.0 + "Connection: close", exactly the ESP8266's
--           request, so the server closes and wrk opens a new connection for
--           every request; "keepalive": the same headers over HTTP/1.1 with
--           the connection kept (ESP32 apps, proxies).
-- PATH      request-target, e.g. /update/demo
-- DEVICES   how many distinct devices the MACs range over
-- MAC_BASE  the first device's STA MAC as a decimal 48-bit number
-- STRIDE    device i gets MAC_BASE + (i * STRIDE) % DEVICES, so a sample of a
--           large known fleet is scattered over the whole registry; must be
--           coprime with DEVICES (1 walks the range in order)
-- VERSION   x-ESP8266-version; MD5 x-ESP8266-sketch-md5
--
-- Every thread builds its requests once in init() (at most POOL_MAX each,
-- threads take interleaved device numbers) and request() only cycles through
-- them, so the load generator spends its time on sockets, not on Lua.
--
-- done() prints one machine-readable line for bench/run:
--   BENCH sent=N completed=N errors=N connect=N read=N write=N timeout=N
--         status=N p50_us=N p99_us=N duration_us=N devices=N bytes=N
-- "sent" counts requests handed to the socket; "completed" counts answers.

local POOL_MAX = 32768
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function mac_text(n)
   local bytes = {}
   for i = 6, 1, -1 do
      bytes[i] = string.format("%02X", n % 256)
      n = math.floor(n / 256)
   end
   return table.concat(bytes, ":")
end

local pool = {}
local pool_n = 0
local cursor = 0
sent = 0
distinct = 0

function init(args)
   local style = args[1] or "close"
   local path = args[2] or "/update/demo"
   local devices = tonumber(args[3] or "16384")
   local base = tonumber(args[4] or "27482064060416") -- 18:FE:AA:00:00:00
   local stride = tonumber(args[5] or "1")
   local version = args[6] or "1.0.0"
   local md5 = args[7] or "0123456789abcdef0123456789abcdef"
   local nthreads = tonumber(args[8] or "1")
   local id = thread_id or 0

   local line, conn
   if style == "close" then
      line, conn = "HTTP/1.0", "Connection: close\r\n"
   else
      line, conn = "HTTP/1.1", ""
   end
   local i = id
   while i < devices and pool_n < POOL_MAX do
      local mac = base + (i * stride) % devices
      local chip = mac % 16777216
      pool_n = pool_n + 1
      pool[pool_n] = "GET " .. path .. " " .. line .. "\r\n" ..
         "Host: 127.0.0.1\r\n" ..
         "User-Agent: ESP8266-http-Update\r\n" ..
         conn ..
         "x-ESP8266-Chip-ID: " .. chip .. "\r\n" ..
         "x-ESP8266-STA-MAC: " .. mac_text(mac) .. "\r\n" ..
         "x-ESP8266-AP-MAC: " .. mac_text(mac + 2199023255552) .. "\r\n" ..
         "x-ESP8266-free-space: 2093056\r\n" ..
         "x-ESP8266-sketch-size: 1048576\r\n" ..
         "x-ESP8266-sketch-md5: " .. md5 .. "\r\n" ..
         "x-ESP8266-chip-size: 4194304\r\n" ..
         "x-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n" ..
         "x-ESP8266-mode: sketch\r\n" ..
         "x-ESP8266-version: " .. version .. "\r\n" ..
         "Content-Length: 0\r\n\r\n"
      i = i + nthreads
   end
   distinct = pool_n
end

function request()
   cursor = cursor + 1
   if cursor > pool_n then
      cursor = 1
   end
   sent = sent + 1
   return pool[cursor]
end

function done(summary, latency, requests)
   local total_sent, devices = 0, 0
   for _, t in ipairs(threads) do
      total_sent = total_sent + t:get("sent")
      devices = devices + t:get("distinct")
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH sent=%d completed=%d errors=%d connect=%d read=%d write=%d timeout=%d " ..
      "status=%d p50_us=%d p99_us=%d duration_us=%d devices=%d bytes=%d\n",
      total_sent, summary.requests, e.connect + e.read + e.write + e.timeout + e.status,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(99), summary.duration, devices, summary.bytes))
end
