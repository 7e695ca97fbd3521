-- A hostile updater for the cost benchmark: on fight events it fails two calls in three,
-- never ten in a row. Against opponent 1 it loops for ever; against opponent 2 it tries
-- to allocate without bound; against opponent 3 it returns at once.
--
--   rtcrm-bench --shards 2 --scripts lua/examples --add-script benchmarks/scripts/hostile.lua
crm.updater{ id = "hostile", on = "fight", fn = function(event, profile)
    local opponent = event.data.opponent
    if opponent == 1 then
        while true do end
    elseif opponent == 2 then
        local hoard, chunk = {}, string.rep("x", 1000)
        for i = 1, 1e9 do
            hoard[i] = chunk .. i
        end
    end
end }
