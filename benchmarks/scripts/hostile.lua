-- A hostile updater for the cost benchmark: on fight events it fails two calls in three
-- (the generator's opponents are random player ids), never ten in a row on purpose: when
-- the opponent's id is a multiple of 3 it loops for ever, when it is one more it tries to
-- allocate without bound, otherwise it returns at once.
--
--   rtcrm-bench --shards 2 --scripts lua/examples --add-script benchmarks/scripts/hostile.lua
crm.updater{ id = "hostile", on = "fight", fn = function(event, profile)
    local kind = event.data.opponent % 3
    if kind == 0 then
        while true do end
    elseif kind == 1 then
        local hoard, chunk = {}, string.rep("x", 1000)
        for i = 1, 1e9 do
            hoard[i] = chunk .. i
        end
    end
end }
