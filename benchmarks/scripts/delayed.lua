-- A delayed campaign armed on the most frequent event: every fight (re)starts a 3-day wait
-- and a purchase cancels it. For the cost of arming and cancelling timers
-- (RESULTS.md, "Timers"): compare a run with this script against one without.
crm.campaign{ id = 90, content = { offer = "come-back-and-fight" },
    on = "fight", after = "3d", unless = "purchase",
    cap = { per_player = 1, every = "7d" } }
