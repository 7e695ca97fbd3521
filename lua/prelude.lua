-- rtcrm framework prelude: the `crm` table that handler scripts call.
--
-- Runs once per Lua state, before any handler script, with the full standard library
-- (it is trusted code); scripts then run in a sandbox that sees `crm` read-only. The chunk
-- returns the registry that the C++ engine reads after loading every script.

local registry = { updaters = {}, campaigns = {} }
local defined = {}  -- "kind:id" -> "file:line" of the first definition

-- Where the calling script defined the handler: "file.lua:12". Levels: 1 where,
-- 2 check_id, 3 crm.updater/crm.campaign, 4 the script.
local function where()
  local info = debug.getinfo(4, "Sl")
  if info == nil then
    return "?"
  end
  return string.format("%s:%d", (info.source or "?"):gsub("^@", ""), info.currentline or 0)
end

-- `on` (or `field`: `unless`) as a fresh list of strings. Read with `next`, so a script's
-- __pairs or __len never decides what is registered; holes and non-string entries are errors.
local function check_on(spec, kind, field)
  field = field or "on"
  local on = spec[field]
  if type(on) == "string" then
    return { on }
  end
  local bad = kind .. " '" .. tostring(spec.id) .. "': `" .. field .. "` must be an event type, a list of event type strings, or \"*\""
  if type(on) ~= "table" then
    error(kind .. " '" .. tostring(spec.id) .. "' needs `" .. field .. "`: an event type, a list of types, or \"*\"", 3)
  end
  local list, n = {}, 0
  for k, v in next, on do
    if math.type(k) ~= "integer" or k < 1 or type(v) ~= "string" then
      error(bad, 3)
    end
    list[k] = v
    n = n + 1
  end
  if n == 0 then
    error(kind .. " '" .. tostring(spec.id) .. "' needs `" .. field .. "`: an event type, a list of types, or \"*\"", 3)
  end
  for i = 1, n do
    if list[i] == nil then
      error(bad .. " (the list has a hole at " .. i .. ")", 3)
    end
  end
  return list
end

local function check_id(spec, kind)
  if type(spec) ~= "table" then
    error("crm." .. kind .. " expects a table: crm." .. kind .. "{ id = ..., ... }", 3)
  end
  local id = spec.id
  if type(id) ~= "string" and math.type(id) ~= "integer" then
    error(kind .. " needs an `id` (a string or an integer)", 3)
  end
  local key = kind .. ":" .. tostring(id)
  if defined[key] then
    error("duplicate " .. kind .. " id '" .. tostring(id) .. "' (first defined at " .. defined[key] .. ")", 3)
  end
  defined[key] = where()
  return id
end

local function check_function(spec, field, kind, required)
  local f = spec[field]
  if f == nil and not required then
    return nil
  end
  if type(f) ~= "function" then
    error(kind .. " '" .. tostring(spec.id) .. "': `" .. field .. "` must be a function", 3)
  end
  return f
end

crm = {}

--- crm.updater{ id = "...", on = "login", fn = function(event, profile) ... end }
function crm.updater(spec)
  local id = check_id(spec, "updater")
  table.insert(registry.updaters, {
    id = tostring(id),
    on = check_on(spec, "updater"),
    fn = check_function(spec, "fn", "updater", true),
    where = defined["updater:" .. tostring(id)],
  })
end

--- crm.campaign{ id = 3, content = {...}, on = "fight", when = fn(event, profile),
---               segment = fn(profile), cap = { per_player = 1, every = "1d" },
---               rate = { per_second = 500 }, dry_run = false,
---               after = "3d", unless = "login",
---               active = { from = "2026-02-10T00:00:00Z", to = "2026-02-15T00:00:00Z" },
---               quiet = { from = "22:00", to = "08:00", tz = "tz", default_tz = "UTC", defer = true },
---               holdout = 0.2, variants = { { name = "a", weight = 1, content = {...} }, ... },
---               goal = { on = "purchase", within = "1d", when = fn(event, profile) },
---               priority = 0, transactional = false }
function crm.campaign(spec)
  local id = check_id(spec, "campaign")
  local content = spec.content
  if content ~= nil and type(content) ~= "table" then
    error("campaign '" .. tostring(id) .. "': `content` must be a table", 2)
  end
  local cap = spec.cap
  if cap ~= nil then
    if type(cap) ~= "table" then
      error("campaign '" .. tostring(id) .. "': `cap` must be a table like { per_player = 1, every = \"1d\" }", 2)
    end
    cap = { per_player = cap.per_player, every = cap.every }  -- plain values, checked by the engine
  end
  local rate = spec.rate
  if rate ~= nil then
    if type(rate) ~= "table" then
      error("campaign '" .. tostring(id) .. "': `rate` must be a table like { per_second = 500 }", 2)
    end
    rate = { per_second = rate.per_second }
  end
  local unless = nil
  if spec.unless ~= nil then
    if spec.after == nil then
      error("campaign '" .. tostring(id) .. "': `unless` needs `after` (the wait an `unless` event cancels)", 2)
    end
    unless = check_on(spec, "campaign", "unless")
  end
  local active = spec.active
  if active ~= nil then
    if type(active) ~= "table" then
      error("campaign '" .. tostring(id) .. "': `active` must be a table like { from = \"2026-02-10T00:00:00Z\", to = \"2026-02-15T00:00:00Z\" }", 2)
    end
    active = { from = active.from, to = active.to }
  end
  local quiet = spec.quiet
  if quiet ~= nil then
    if type(quiet) ~= "table" then
      error("campaign '" .. tostring(id) .. "': `quiet` must be a table like { from = \"22:00\", to = \"08:00\", tz = \"tz\", default_tz = \"UTC\", defer = true }", 2)
    end
    quiet = { from = quiet.from, to = quiet.to, tz = quiet.tz, default_tz = quiet.default_tz, defer = quiet.defer }
  end
  local variants = spec.variants
  if variants ~= nil then
    if type(variants) ~= "table" then
      error("campaign '" .. tostring(id) .. "': `variants` must be a list like { { name = \"a\", weight = 1, content = {...} }, ... }", 2)
    end
    local list = {}
    for i = 1, rawlen(variants) do
      local v = rawget(variants, i)
      if type(v) == "table" then
        v = { name = rawget(v, "name"), weight = rawget(v, "weight"), content = rawget(v, "content") }
      end
      list[i] = v  -- plain values, checked by the engine
    end
    variants = list
  end
  local goal = spec.goal
  if type(goal) == "table" then
    goal = { on = rawget(goal, "on"), within = rawget(goal, "within"), when = rawget(goal, "when") }
  end
  table.insert(registry.campaigns, {
    id = id,
    on = check_on(spec, "campaign"),
    when = check_function(spec, "when", "campaign", false),
    segment = check_function(spec, "segment", "campaign", false),
    content = content or {},
    cap = cap,
    rate = rate,
    dry_run = spec.dry_run == true,
    after = spec.after,  -- plain values, checked by the engine
    unless = unless,
    active = active,
    quiet = quiet,
    holdout = spec.holdout,  -- plain values, checked by the engine
    variants = variants,
    goal = goal,
    priority = spec.priority,
    transactional = spec.transactional,
    where = defined["campaign:" .. tostring(id)],
  })
end

--- crm.fatigue{ per_player = 2, every = "1d" }: at most `per_player` exposures of
--- non-transactional campaigns per player in any `every` of event time. At most one call
--- per script set.
function crm.fatigue(spec)
  local info = debug.getinfo(2, "Sl")
  local here = info and string.format("%s:%d", (info.source or "?"):gsub("^@", ""), info.currentline or 0) or "?"
  if type(spec) ~= "table" then
    error("crm.fatigue expects a table: crm.fatigue{ per_player = 2, every = \"1d\" }", 2)
  end
  if registry.fatigue ~= nil then
    error("crm.fatigue is called twice (first at " .. registry.fatigue.where .. "): a script set has at most one fatigue rule", 2)
  end
  registry.fatigue = { per_player = rawget(spec, "per_player"), every = rawget(spec, "every"), where = here }
end

return registry
