-- A campaign that fires on every fight, with no cap and no rate limit: the Kafka tests
-- count its triggers to see that every event was processed (and how many twice).
crm.campaign{ id = "every-fight", content = { test = true }, on = "fight",
              when = function(event, profile) return true end }
