-- Counts responses per 10 ms of CLOCK_MONOTONIC, per thread; 2xx apart from the rest.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } zd_timespec;
int clock_gettime(int clk, zd_timespec *tp);
]]
local ts = ffi.new("zd_timespec")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok_bins = {}
  bad = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ffi.C.clock_gettime(1, ts)
    local b = tonumber(ts.tv_sec) * 100 + math.floor(tonumber(ts.tv_nsec) / 10000000)
    ok_bins[b] = (ok_bins[b] or 0) + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for b, n in pairs(t:get("ok_bins")) do
      io.write("zdbin ", string.format("%d", b), " ", n, "\n")
    end
    io.write("zdbad ", t:get("bad"), "\n")
  end
end
