-- wrk script of ./stack bench: every request POSTs one JSON registration.
-- Request i of a thread uses openid bench-RUN-tT-floor(i/REPLAYS): with
-- BENCH_REPLAYS=3 the three copies of an openid are consecutive requests,
-- which wrk hands to different connections of the thread, so they reach
-- the server at the same time. done() prints one line "BENCH_JSON {...}"
-- with the latency percentiles and the answers counted by status.
local run = os.getenv("BENCH_RUN") or "wrk"
local replays = tonumber(os.getenv("BENCH_REPLAYS") or "1")
local threads = {}
local next_id = 1
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
	thread:set("tid", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

function init(args)
	i = 0
	statuses = {}
	created = 0
end

function request()
	local n = math.floor(i / replays)
	i = i + 1
	return wrk.format("POST", nil, headers, string.format(
		'{"openid":"bench-%s-t%d-%d","username":"bench user",' ..
		'"password":"bench password"}', run, tid, n))
end

function response(status, hdrs, body)
	local key = tostring(status)
	statuses[key] = (statuses[key] or 0) + 1
	-- regonce's "created" answer is code 0 ("exists" is -1, also a 200).
	if status == 200 and string.find(body, '"code": *0[,}]') then
		created = created + 1
	end
end

function done(summary, latency, requests)
	local by_status, made = {}, 0
	for _, thread in ipairs(threads) do
		for status, n in pairs(thread:get("statuses")) do
			by_status[status] = (by_status[status] or 0) + n
		end
		made = made + thread:get("created")
	end
	local parts = {}
	for status, n in pairs(by_status) do
		table.insert(parts, string.format('"%s":%d', status, n))
	end
	local e = summary.errors
	io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,' ..
		'"created":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
		'"socket_errors":{"connect":%d,"read":%d,"write":%d,' ..
		'"timeout":%d},"non_2xx_3xx":%d,"statuses":{%s}}\n',
		summary.requests, summary.duration, made,
		latency:percentile(50), latency:percentile(99), latency.max,
		e.connect, e.read, e.write, e.timeout, e.status,
		table.concat(parts, ",")))
end
