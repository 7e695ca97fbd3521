-- "Bob lost three fights in a row: offer him tanks." A non-paying player below level 100
-- who has just lost a third fight in a row gets the offer, at most once a day.
crm.campaign{ id = 3, content = { game = "foe", markets = {"de"}, offer = "tanks-10" },
    on = "fight",
    when = function(event, profile) return event.data.result == "loss" end,
    segment = function(profile)
        return not profile:get("is_payer") and (profile:get("level") or 0) < 100
           and (profile:get("loss_streak") or 0) >= 3 end,
    cap = { per_player = 1, every = "1d" },   -- frequency cap
    rate = { per_second = 500 },              -- global guard for this campaign
    dry_run = false }
