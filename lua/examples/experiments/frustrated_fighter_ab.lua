-- The frustrated-fighter campaign (../frustrated_fighter.lua) as an experiment: 20% of the
-- players are held out, the rest split between two offers, and a purchase within a day
-- of the offer is a conversion (docs/EXPERIMENTS.md). Load it in place of
-- frustrated_fighter.lua, with the updaters of ../fight_stats.lua.
crm.campaign{ id = 3, content = { game = "foe", markets = {"de"}, offer = "tanks-10" },
    on = "fight",
    when = function(event, profile) return event.data.result == "loss" end,
    segment = function(profile)
        return not profile:get("is_payer") and (profile:get("level") or 0) < 100
           and (profile:get("loss_streak") or 0) >= 3 end,
    cap = { per_player = 1, every = "1d" },
    rate = { per_second = 500 },
    holdout = 0.2,
    variants = { { name = "tanks", weight = 1 },
                 { name = "tanks-and-gold", weight = 1,
                   content = { game = "foe", markets = {"de"}, offer = "tanks-5-and-gold" } } },
    goal = { on = "purchase", within = "1d" } }
