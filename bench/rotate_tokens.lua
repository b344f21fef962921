-- wrk script: POST (or GET) with a fresh, never-used JWT on every request, so the service's
-- jti replay protection is exercised, not bypassed. Each thread takes every n-th token.
-- Arguments: <tokens file> <body file or "-"> <method> <thread count>
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  body = nil
  if args[2] ~= "-" then
    local f = io.open(args[2], "rb"); body = f:read("*a"); f:close()
  end
  method = args[3]
  nthreads = tonumber(args[4])
  n = 0
end

function request()
  local i = id + n * nthreads + 1
  n = n + 1
  local token = tokens[i] or "exhausted"
  local headers = {["Authorization"] = "Bearer " .. token}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, nil, headers, body)
end
