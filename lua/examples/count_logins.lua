-- Counts every login of a player.
crm.updater{ id = "count-login-events", on = "login",
             fn = function(event, profile) profile:incr("logins") end }
