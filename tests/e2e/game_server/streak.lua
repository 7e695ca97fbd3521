-- The game server test's campaign: an offer at every third loss in a row, with no cap and
-- no rate limit, so the test can predict every offer exactly.
crm.updater{ id = "streak", on = "fight", fn = function(event, profile)
    if event.data.result == "loss" then profile:incr("loss_streak") else profile:set("loss_streak", 0) end
end }
crm.campaign{ id = "streak-offer", content = { offer = "streak" }, on = "fight",
    when = function(event, profile) return event.data.result == "loss" end,
    segment = function(profile) return (profile:get("loss_streak") or 0) % 3 == 0 end }
