-- Fight statistics: losses per day, and the current losing streak.
crm.updater{ id = "fight-stats", on = "fight", fn = function(event, profile)
    if event.data.result == "loss" then
        profile:incr("fights_lost", 1, "1d")        -- counter in daily buckets
        profile:incr("loss_streak")
    else
        profile:set("loss_streak", 0)
    end
end }

-- The player's level and whether they ever paid.
crm.updater{ id = "level", on = "level_up",
             fn = function(event, profile) profile:set("level", event.data.level) end }
crm.updater{ id = "payer", on = "purchase",
             fn = function(event, profile) profile:set("is_payer", true) end }
