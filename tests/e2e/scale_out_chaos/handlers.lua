-- The chaos test's handlers: a counter per event type (each event's effect on its
-- player's profile, to be applied exactly once), and a capped campaign (its cap is read
-- from the trigger history the profile keeps, so a profile written twice or a stale copy
-- would let it fire too often).
crm.updater{ id = "count", on = "*", fn = function(event, profile) profile:incr("n_" .. event.type) end }
crm.campaign{ id = "capped", content = { test = true }, on = "fight", cap = { per_player = 3 },
              when = function(event, profile) return (profile:get("n_fight") or 0) % 5 == 0 end }
