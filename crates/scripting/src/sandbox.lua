-- Basalt's script environment, built once per interpreter (see sandbox.rs). It receives the
-- host table H (Rust functions and per-run state) and returns the globals scripts see.
--
-- What scripts get is Redis 7.0's: its allowed builtins and libraries, every table read-only,
-- reading a missing global an error, `redis.*` as Redis defines it. Lua 5.1 has no read-only
-- tables, so each library is reached through an empty proxy whose metatable reads from the
-- real table and refuses writes.
local H = ...
local dbg = debug
local error, type, tostring, setmetatable, rawget, select = error, type, tostring, setmetatable, rawget, select
local real_loadstring, real_load, real_setfenv, real_getfenv = loadstring, load, setfenv, getfenv
local vm_globals = _G

local function readonly_error()
  error("Attempt to modify a readonly table", 2)
end

local function readonly(t)
  return setmetatable({}, { __index = t, __newindex = readonly_error, __metatable = false })
end

-- An error as redis.call raises it: a table with the error code and message.
local function err_table(msg)
  if msg:sub(1, 1) == '-' then
    local space = msg:find(' ', 1, true)
    if space then
      msg = msg:sub(2, space - 1) .. ' ' .. msg:sub(space + 1)
    else
      msg = 'ERR ' .. msg:sub(2)
    end
  else
    msg = 'ERR ' .. msg
  end
  return { err = (msg:gsub('[\r\n]+$', '')) }
end
H.err_table = err_table


-- A Rust function cannot raise a Lua table, so redis.call raises a placeholder and leaves
-- the error table in H.raised; whoever catches the placeholder takes the table instead.
H.take_raised = function(err)
  if type(err) ~= 'userdata' then return err end
  local raised = H.raised
  if raised ~= nil then
    H.raised = nil
    return raised
  end
  -- Any other error a Rust function raised: its message, as a C function's would be.
  return H.error_text(err)
end

-- The real globals behind the proxy scripts see.
local G = {}
for _, name in ipairs({ "xpcall", "tostring", "setmetatable", "next", "assert", "tonumber",
    "rawequal", "collectgarbage", "getmetatable", "rawset", "pcall", "type", "select",
    "unpack", "gcinfo", "pairs", "rawget", "ipairs", "_VERSION", "error", "newproxy" }) do
  G[name] = vm_globals[name]
end

-- Reads go to G through a table __index (no Lua call for a global that exists); a missing
-- one falls through to G's own metatable, whose function raises the error.
setmetatable(G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
local globals = setmetatable({}, {
  __index = G,
  __newindex = readonly_error,
  __metatable = false,
})
G._G = globals

local real_pcall, real_xpcall = pcall, xpcall
-- As Redis's pcall: an error table with a message is caught as the message alone (errors
-- were strings before Redis 7, and scripts compare them).
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = H.take_raised((...))
  -- A script stopped by SCRIPT KILL stays stopped: its error passes through every pcall.
  if H.is_killed() then error(e) end
  if type(e) == 'table' then
    local msg = rawget(e, 'err')
    if type(msg) == 'string' or type(msg) == 'number' then e = msg end
  end
  return false, e
end
G.pcall = function(f, ...)
  return caught(real_pcall(f, ...))
end
G.xpcall = function(f, h)
  return caught(real_xpcall(f, function(e)
    e = H.take_raised(e)
    if H.is_killed() then return e end
    return h(e)
  end))
end

-- Code loaded by a script runs in the script's environment.
G.loadstring = function(s, name)
  local f, e = real_loadstring(s, name)
  if f then real_setfenv(f, globals) end
  return f, e
end
G.load = function(fn, name)
  local f, e = real_load(fn, name)
  if f then real_setfenv(f, globals) end
  return f, e
end
G.setfenv = real_setfenv
G.getfenv = function(f)
  local env = real_getfenv(f)
  if env == vm_globals then return globals end
  return env
end

-- math, with Redis's random numbers (one sequence for the server, see random.rs).
local math_lib = {}
for k, v in pairs(math) do math_lib[k] = v end
local floor = math.floor
math_lib.random = function(...)
  local n = select('#', ...)
  local r = H.rand()
  if n == 0 then return r end
  local m = ...
  if type(m) ~= 'number' then
    error("bad argument #1 to 'random' (number expected, got " .. (m == nil and 'no value' or type(m)) .. ")", 2)
  end
  if n == 1 then
    local u = floor(m)
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  elseif n == 2 then
    local l, u = floor(m), select(2, ...)
    if type(u) ~= 'number' then
      error("bad argument #2 to 'random' (number expected, got " .. type(u) .. ")", 2)
    end
    u = floor(u)
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error("wrong number of arguments", 2)
end
math_lib.randomseed = function(seed)
  if type(seed) ~= 'number' then
    error("bad argument #1 to 'randomseed' (number expected, got " .. (seed == nil and 'no value' or type(seed)) .. ")", 2)
  end
  H.srand(seed)
end

G.string = readonly(string)
G.table = readonly(table)
G.math = readonly(math_lib)
G.coroutine = readonly(coroutine)
G.bit = readonly(H.bit)
G.cjson = readonly(H.cjson)
G.cmsgpack = readonly(H.cmsgpack)
G.struct = readonly(H.struct)

-- The redis library.
local redis = {}
-- redis.call and redis.pcall are Rust functions the engine installs for each run (C
-- functions, as in Redis, so `return redis.call(…)` keeps the script's frame for error
-- positions); between runs they refuse.
redis.call = H.call
redis.pcall = H.pcall
-- Bad arguments make these two return an error reply rather than raise one, as in Redis.
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or (type(s) ~= 'string' and type(s) ~= 'number') then
    return err_table("wrong number or type of arguments")
  end
  s = tostring(s)
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  return err_table(s)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or (type(s) ~= 'string' and type(s) ~= 'number') then
    return err_table("wrong number or type of arguments")
  end
  return { ok = tostring(s) }
end
-- These raise their errors, and are Rust functions (see sandbox.rs) so that a tail call
-- keeps the script's frame for the error's position.
redis.sha1hex = H.sha1hex
redis.log = H.redis_log
redis.setresp = H.setresp
redis.set_repl = H.set_repl
redis.acl_check_cmd = H.acl_check_cmd
redis.replicate_commands = function() return true end
-- The debugger's (see ldb.rs): outside a debugging session they do nothing.
redis.breakpoint = H.breakpoint
redis.debug = H.debug
redis.REDIS_VERSION = H.version
redis.REDIS_VERSION_NUM = H.version_num
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
G.redis = readonly(redis)

-- The error handler every script runs under: the error as a table with the script's own
-- source and line (skipping C functions and this file's wrappers).
local function handler(err)
  err = H.take_raised(err)
  local level = 2
  local info = dbg.getinfo(level, 'nSl')
  while info and (info.what == 'C' or info.what == 'tail' or info.source == '=basalt') do
    level = level + 1
    info = dbg.getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end

-- Scripts and functions are called under it from Rust (raw.rs), their first result kept.
H.handler = handler

-- The debugger's `print`: the locals of every frame from the one the line hook stopped in
-- outwards, each frame a list of {name, value}. Called from the hook, so level 2 is the
-- script's current frame.
H.ldb_locals = function()
  local frames, level = {}, 2
  while dbg.getinfo(level, 'l') do
    local frame, i = {}, 1
    while true do
      local name, value = dbg.getlocal(level, i)
      if name == nil then break end
      frame[#frame + 1] = { name, value }
      i = i + 1
    end
    frames[#frames + 1] = frame
    level = level + 1
  end
  return frames
end

-- Functions (FUNCTION LOAD, FCALL). A library's code runs once to register its functions,
-- with only the load API as its globals (Redis 7.0: `redis.register_function`, `redis.log`,
-- the log levels and the version); the functions it registered then run with the same globals
-- as scripts. Both see the globals through `fglobals`, whose metatable's __index is switched
-- for the load.
local load_redis = {
  log = H.redis_log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = H.version,
  REDIS_VERSION_NUM = H.version_num,
}
local function missing_global(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local FLAGS = { 'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys' }
local function is_text(v)
  local t = type(v)
  return t == 'string' or t == 'number'
end
-- Raise Redis's error table (kept in H.raised too, for when it crosses the Rust wrapper below).
local function refuse(msg)
  H.raised = err_table(msg)
  error(H.raised)
end

-- A flags table's entries (1, 2, … up to the first nil) as Redis's flag names, or nil when
-- one is not a known flag.
local function read_flags(t)
  local flags, j = {}, 1
  while true do
    local v = t[j]
    if v == nil then return flags end
    if not is_text(v) then return nil end
    local lower, found = tostring(v):lower(), false
    for _, name in ipairs(FLAGS) do
      if lower == name then flags[#flags + 1] = name found = true break end
    end
    if not found then return nil end
    j = j + 1
  end
end

local function named_args(t)
  if type(t) ~= 'table' then
    refuse("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
  end
  local name, desc, callback, flags
  for k, v in next, t do
    if not is_text(k) then refuse("named argument key given to redis.register_function is not a string") end
    local key = tostring(k):lower()
    if key == 'function_name' then
      if not is_text(v) then refuse("function_name argument given to redis.register_function must be a string") end
      name = tostring(v)
    elseif key == 'description' then
      if not is_text(v) then refuse("description argument given to redis.register_function must be a string") end
      desc = tostring(v)
    elseif key == 'callback' then
      if type(v) ~= 'function' then refuse("callback argument given to redis.register_function must be a function") end
      callback = v
    elseif key == 'flags' then
      if type(v) ~= 'table' then refuse("flags argument to redis.register_function must be a table representing function flags") end
      flags = read_flags(v)
      if not flags then refuse("unknown flag given") end
    else
      refuse("unknown argument given to redis.register_function")
    end
  end
  if name == nil then refuse("redis.register_function must get a function name argument") end
  if callback == nil then refuse("redis.register_function must get a callback argument") end
  return name, callback, desc, flags or {}
end

local function register_function(...)
  local registering = H.registering
  if registering == nil then
    refuse("redis.register_function can only be called on FUNCTION LOAD command")
  end
  local n = select('#', ...)
  if n < 1 or n > 2 then refuse("wrong number of arguments to redis.register_function") end
  local name, callback, desc, flags
  if n == 1 then
    name, callback, desc, flags = named_args((...))
  else
    local a, b = ...
    if not is_text(a) then refuse("first argument to redis.register_function must be a string") end
    if type(b) ~= 'function' then refuse("second argument to redis.register_function must be a function") end
    name, callback, flags = tostring(a), b, {}
  end
  if not name:find('^[a-zA-Z0-9_]+$') then
    -- Redis words this one as for library names.
    refuse("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
  end
  for _, f in ipairs(registering) do
    if f.name == name then refuse("Function already exists in the library") end
  end
  registering[#registering + 1] = { name = name, callback = callback, description = desc, flags = flags }
end
-- Called through a Rust (C) function, as Redis's is: `return redis.register_function(…)`
-- then keeps the caller's frame, which errors name.
load_redis.register_function = H.c_wrap(register_function)

local load_api = setmetatable({
  redis = setmetatable({}, { __index = setmetatable(load_redis, { __index = missing_global }),
    __newindex = readonly_error, __metatable = false }),
}, { __index = missing_global })
local fmeta = { __index = G, __newindex = readonly_error, __metatable = false }
H.fglobals = setmetatable({}, fmeta)

-- Run a library's compiled code: `true` and the functions it registered, or `false` and its
-- error.
H.load_library = function(chunk)
  H.raised = nil
  H.registering = {}
  fmeta.__index = load_api
  local ok, err = real_pcall(chunk)
  fmeta.__index = G
  local registered = H.registering
  H.registering = nil
  if not ok then return false, H.take_raised(err) end
  return true, registered
end

H.globals = G
return globals
