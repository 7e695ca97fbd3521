-- "No login for 3 days: send the comeback pack." Every login (re)starts a 3-day wait and a
-- login before it ends cancels it; when it ends, a player who had logged in at least 3
-- times gets the offer, at most once a week (event time).
crm.campaign{ id = 31, content = { game = "foe", offer = "comeback-pack" },
    on = "login", after = "3d", unless = "login",
    segment = function(profile) return (profile:get("logins") or 0) >= 3 end,
    cap = { per_player = 1, every = "7d" } }
