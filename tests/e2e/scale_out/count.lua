-- Scale-out tests: a counter per event type on every event (the stored totals show each
-- event's effect applied once), and a campaign on every event whose triggers say which
-- instance processed which event.
crm.updater{ id = "count", on = "*", fn = function(event, profile) profile:incr("n_" .. event.type) end }
crm.campaign{ id = "every-event", content = { test = true }, on = "*",
              when = function(event, profile) return true end }
