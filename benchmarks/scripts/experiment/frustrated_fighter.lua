-- lua/examples/frustrated_fighter.lua as an experiment: a 20 % holdout, two variants and a
-- purchase goal. `rtcrm-bench --scripts benchmarks/scripts/experiment` runs it with the
-- other example scripts (see benchmarks/experiment_bench.sh) against the plain campaign.
crm.campaign{ id = 3, content = { game = "foe", markets = {"de"}, offer = "tanks-10" },
    on = "fight",
    when = function(event, profile) return event.data.result == "loss" end,
    segment = function(profile)
        return not profile:get("is_payer") and (profile:get("level") or 0) < 100
           and (profile:get("loss_streak") or 0) >= 3 end,
    cap = { per_player = 1, every = "1d" },
    rate = { per_second = 500 },
    holdout = 0.2,
    variants = { { name = "a", weight = 1 },
                 { name = "b", weight = 1, content = { game = "foe", markets = {"de"}, offer = "tanks-5-and-gold" } } },
    goal = { on = "purchase", within = "1d" },
    dry_run = false }
