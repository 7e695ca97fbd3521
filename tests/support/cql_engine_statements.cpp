// Running the statements that write and read rows. Both are planned first (table, columns,
// WHERE, values checked), so that a statement or batch that fails is refused before any
// of it is applied, and so that PREPARE can run the same planning to describe a statement.
#include "support/cql_engine_statements.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace rtcrm::test::engine {

// --- Writes --------------------------------------------------------------------------------

namespace {

std::vector<std::string> pk_values(const table& t, const where_plan& w, std::string_view verb) {
    if (!w.full_pk()) {
        std::vector<std::string> missing;
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!w.pk_eq[i]) {
                missing.push_back(t.columns[t.pk[i]].name);
            }
        }
        invalid(fmt::format("Some partition key parts are missing: {} ({} needs the whole partition key)",
                            fmt::join(missing, ", "), verb));
    }
    std::vector<std::string> out;
    for (const auto& v : w.pk_eq) {
        out.push_back(*v);
    }
    return out;
}

// The clustering key of one row from equality filters, or nullopt when they do not name one.
std::optional<std::vector<std::string>> exact_ck(const table& t, const where_plan& w) {
    std::vector<std::optional<std::string>> ck(t.ck.size());
    for (const auto& f : w.ck_filters) {
        if (f.op != "=") {
            return std::nullopt;
        }
        ck[t.columns[f.column].position] = f.value.value_or(std::string());
    }
    std::vector<std::string> out;
    for (auto& v : ck) {
        if (!v) {
            return std::nullopt;
        }
        out.push_back(std::move(*v));
    }
    return out;
}

std::int64_t write_ts(const std::optional<term>& using_ts, eval_ctx& ctx, const exec_env& env,
                      std::optional<std::int64_t> request_ts) {
    if (using_ts) {
        if (const auto v = ctx.eval_int(*using_ts, "[timestamp]", type_id::bigint)) {
            return *v;
        }
    }
    return request_ts.value_or(env.write_ts_us);
}

std::int64_t write_ttl(const std::optional<term>& using_ttl, eval_ctx& ctx, const table& t) {
    if (using_ttl) {
        if (const auto v = ctx.eval_int(*using_ttl, "[ttl]", type_id::int_)) {
            if (*v < 0) {
                invalid(fmt::format("A TTL must be greater or equal to 0, but was {}", *v));
            }
            if (*v > 630720000) {
                invalid(fmt::format("ttl is too large. requested ({}) maximum (630720000)", *v));
            }
            return *v;
        }
        return t.default_ttl;
    }
    return t.default_ttl;
}

}  // namespace

bool matches(const cql::data_type& type, const cql::value& have, const std::string& op, const cql::value& want) {
    if (!have || !want) {
        return false;
    }
    const int c = compare_values(type, *have, *want);
    if (op == "=") {
        return c == 0;
    }
    if (op == "<") {
        return c < 0;
    }
    if (op == "<=") {
        return c <= 0;
    }
    if (op == ">") {
        return c > 0;
    }
    if (op == ">=") {
        return c >= 0;
    }
    return false;
}

where_plan plan_where(const table& t, const std::vector<relation>& where, eval_ctx& ctx) {
    where_plan w;
    w.pk_eq.resize(t.pk.size());
    for (const auto& r : where) {
        if (r.token) {
            std::vector<std::string> pk_names;
            for (const auto i : t.pk) {
                pk_names.push_back(t.columns[i].name);
            }
            if (r.columns != pk_names) {
                invalid(fmt::format("The token function arguments must be in the partition key order: {}",
                                    fmt::join(pk_names, ", ")));
            }
            if (r.op == "!=") {
                invalid("Unsupported \"!=\" relation on token()");
            }
            w.has_token = true;
            const auto v = ctx.eval_int(r.value, "partition key token", type_id::bigint);
            if (ctx.describing()) {
                if (r.value.kind == term_kind::marker) {
                    ctx.specs[r.value.marker].value().keyspace = t.keyspace;
                    ctx.specs[r.value.marker].value().table = t.name;
                }
                continue;
            }
            if (!v) {
                invalid("Invalid null value for the partition key token");
            }
            if (r.op == ">" || r.op == ">=" || r.op == "=") {
                w.token_lo = *v;
                w.lo_inclusive = r.op != ">";
            }
            if (r.op == "<" || r.op == "<=" || r.op == "=") {
                w.token_hi = *v;
                w.hi_inclusive = r.op != "<";
            }
            continue;
        }
        const std::size_t idx = t.column(r.columns.at(0));
        const auto& col = t.columns[idx];
        if (r.op == "!=") {
            invalid(fmt::format("Unsupported \"!=\" relation: {} != ...", col.name));
        }
        if (col.kind == column_kind::partition_key) {
            if (r.op != "=") {
                invalid("Only EQ and IN relation are supported on the partition key (unless you use the token() "
                        "function)");
            }
            if (r.value.kind == term_kind::marker) {
                ctx.pk_markers[col.position] = r.value.marker;
            }
            auto v = ctx.eval(r.value, t.spec(idx));
            if (!ctx.describing() && !v) {
                invalid(fmt::format("Invalid null value in condition for column {}", col.name));
            }
            if (!w.pk_eq[col.position]) {
                ++w.pk_restricted;
            }
            w.pk_eq[col.position] = v ? std::move(*v) : std::string();
            continue;
        }
        filter f{idx, r.op, ctx.eval(r.value, t.spec(idx))};
        if (!ctx.describing() && !f.value) {
            invalid(fmt::format("Invalid null value in condition for column {}", col.name));
        }
        (col.kind == column_kind::clustering ? w.ck_filters : w.regular_filters).push_back(std::move(f));
    }
    if (w.pk_restricted != 0 && !w.full_pk()) {
        std::vector<std::string> missing;
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!w.pk_eq[i]) {
                missing.push_back(t.columns[t.pk[i]].name);
            }
        }
        invalid(fmt::format("Partition key parts: {} must be restricted as other parts are", fmt::join(missing, ", ")));
    }
    return w;
}

mutation plan_write(const write_st& w, const std::string& current_ks, schema_t& s, eval_ctx& ctx,
                    const exec_env& env, std::optional<std::int64_t> request_ts) {
    mutation m;
    if (const auto* ins = std::get_if<insert_st>(&w)) {
        table& t = find_table(s, ins->name, current_ks);
        if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
            fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
        }
        m.target = &t;
        if (ins->columns.size() != ins->values.size()) {
            invalid(fmt::format("Unmatched column names/values: {} names for {} values", ins->columns.size(),
                                ins->values.size()));
        }
        std::vector<std::optional<std::string>> pk(t.pk.size());
        std::vector<std::optional<std::string>> ck(t.ck.size());
        std::set<std::size_t> seen;
        for (std::size_t i = 0; i < ins->columns.size(); ++i) {
            const std::size_t idx = t.column(ins->columns[i]);
            if (!seen.insert(idx).second) {
                invalid(fmt::format("Multiple definitions found for column {}", ins->columns[i]));
            }
            const auto& col = t.columns[idx];
            if (col.kind == column_kind::partition_key && ins->values[i].kind == term_kind::marker) {
                ctx.pk_markers[col.position] = ins->values[i].marker;
            }
            auto v = ctx.eval(ins->values[i], t.spec(idx));
            if (col.kind == column_kind::regular) {
                m.cells.emplace_back(idx, std::move(v));
                continue;
            }
            if (!ctx.describing() && !v) {
                invalid(fmt::format("Invalid null value in condition for column {}", col.name));
            }
            (col.kind == column_kind::partition_key ? pk : ck)[col.position] = v.value_or(std::string());
        }
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            if (!pk[i]) {
                invalid(fmt::format("Some partition key parts are missing: {}", t.columns[t.pk[i]].name));
            }
            m.pk.push_back(*pk[i]);
        }
        for (std::size_t i = 0; i < t.ck.size(); ++i) {
            if (!ck[i]) {
                invalid(fmt::format("Some clustering keys are missing: {}", t.columns[t.ck[i]].name));
            }
            m.ck.push_back(*ck[i]);
        }
        m.marker = true;
        m.ttl_s = write_ttl(ins->ttl, ctx, t);
        m.ts = write_ts(ins->timestamp, ctx, env, request_ts);
        return m;
    }
    if (const auto* up = std::get_if<update_st>(&w)) {
        table& t = find_table(s, up->name, current_ks);
        if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
            fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
        }
        m.target = &t;
        // Cassandra numbers markers left to right: USING, then SET, then WHERE; evaluate in that order.
        m.ttl_s = write_ttl(up->ttl, ctx, t);
        m.ts = write_ts(up->timestamp, ctx, env, request_ts);
        for (const auto& [name, value] : up->set) {
            const std::size_t idx = t.column(name);
            if (t.columns[idx].kind != column_kind::regular) {
                invalid(fmt::format("PRIMARY KEY part {} found in SET part", name));
            }
            m.cells.emplace_back(idx, ctx.eval(value, t.spec(idx)));
        }
        const where_plan wp = plan_where(t, up->where, ctx);
        if (!wp.regular_filters.empty() || wp.has_token) {
            invalid("UPDATE's WHERE clause may only restrict primary key columns by equality");
        }
        m.pk = pk_values(t, wp, "UPDATE");
        const auto ck = exact_ck(t, wp);
        if (!ck) {
            invalid(fmt::format("Some clustering keys are missing or not restricted by equality (UPDATE of {}.{})",
                                t.keyspace, t.name));
        }
        m.ck = *ck;
        return m;
    }
    const auto& del = std::get<delete_st>(w);
    table& t = find_table(s, del.name, current_ks);
    if (is_system_keyspace(t.keyspace) && !ctx.describing()) {
        fail(cql::error_code::unauthorized, fmt::format("{} keyspace is not user-modifiable.", t.keyspace));
    }
    m.target = &t;
    m.ts = write_ts(del.timestamp, ctx, env, request_ts);
    const where_plan wp = plan_where(t, del.where, ctx);
    if (!wp.regular_filters.empty() || wp.has_token) {
        invalid("DELETE's WHERE clause may only restrict primary key columns");
    }
    m.pk = pk_values(t, wp, "DELETE");
    if (!del.columns.empty()) {
        const auto ck = exact_ck(t, wp);
        if (!ck) {
            invalid("Deleting columns needs the whole primary key restricted by equality");
        }
        m.kind = mutation_kind::delete_cells;
        m.ck = *ck;
        for (const auto& name : del.columns) {
            const std::size_t idx = t.column(name);
            if (t.columns[idx].kind != column_kind::regular) {
                invalid(fmt::format("Invalid identifier {} for deletion (should not be a PRIMARY KEY part)", name));
            }
            m.cells.emplace_back(idx, std::nullopt);
        }
        return m;
    }
    m.kind = mutation_kind::delete_rows;
    m.ck_filters = wp.ck_filters;
    return m;
}

bool is_conditional(const write_st& w) {
    const auto* ins = std::get_if<insert_st>(&w);
    const auto* up = std::get_if<update_st>(&w);
    return (ins != nullptr && ins->if_not_exists) || (up != nullptr && (up->if_exists || !up->conditions.empty()));
}

std::optional<condition_outcome> check_conditions(const write_st& w, const mutation& m, eval_ctx& ctx,
                                                  std::int64_t now_ms) {
    if (!is_conditional(w)) {
        return std::nullopt;
    }
    const auto* ins = std::get_if<insert_st>(&w);
    const auto* up = std::get_if<update_st>(&w);
    const table& t = *m.target;
    std::vector<std::pair<std::size_t, cql::value>> wanted;  // column, value (conditions in order)
    if (up != nullptr) {
        for (const auto& c : up->conditions) {
            const std::size_t idx = t.column(c.columns.front());
            if (t.columns[idx].kind != column_kind::regular) {
                invalid(fmt::format("PRIMARY KEY column '{}' cannot have IF conditions", c.columns.front()));
            }
            wanted.emplace_back(idx, ctx.eval(c.value, t.spec(idx)));
        }
    }
    if (ctx.describing()) {
        return condition_outcome{};
    }
    const row* current = nullptr;
    if (const auto pit = t.partitions.find(key_of(m.pk)); pit != t.partitions.end()) {
        if (const auto rit = pit->second.rows.find(m.ck); rit != pit->second.rows.end() && row_live(rit->second, now_ms)) {
            current = &rit->second;
        }
    }
    auto value_of = [&](std::size_t idx) -> cql::value {
        if (current == nullptr) {
            return std::nullopt;
        }
        const auto c = current->cells.find(idx);
        return c != current->cells.end() && cell_live(c->second, now_ms) ? c->second.v : std::nullopt;
    };
    condition_outcome out;
    if (ins != nullptr) {
        out.applied = current == nullptr;
    } else if (up->if_exists) {
        out.applied = current != nullptr;
    } else {
        out.applied = true;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            const auto& c = up->conditions[i];
            const auto have = value_of(wanted[i].first);
            const auto& want = wanted[i].second;
            bool holds = false;
            if (c.op == "=" || c.op == "!=") {
                // Null compares equal to null (an absent row or cell), as in Cassandra's conditions.
                const bool equal = (!have && !want) ||
                                   (have && want && matches(t.columns[wanted[i].first].type, have, "=", want));
                holds = (c.op == "=") == equal;
            } else {
                holds = matches(t.columns[wanted[i].first].type, have, c.op, want);
            }
            out.applied = out.applied && holds;
        }
    }
    std::vector<cql::column_spec> columns{{t.keyspace, t.name, "[applied]", simple_type(type_id::boolean)}};
    std::vector<cql::value> row{std::string(1, out.applied ? '\x01' : '\x00')};
    if (!out.applied) {
        for (const auto& [idx, value] : wanted) {
            if (std::none_of(columns.begin() + 1, columns.end(),
                             [&](const cql::column_spec& spec) { return spec.name == t.columns[idx].name; })) {
                columns.push_back(t.spec(idx));
                row.push_back(value_of(idx));
            }
        }
    }
    out.answer.metadata = rows_metadata_of(columns, false);
    out.answer.rows.push_back(std::move(row));
    return out;
}

void apply(const mutation& m, std::int64_t now_ms) {
    table& t = *m.target;
    const auto key = key_of(m.pk);
    if (m.kind == mutation_kind::upsert) {
        auto [it, created] = t.partitions.try_emplace(key, partition{m.pk, row_map(clustering_less{t.ck_specs})});
        row& r = it->second.rows[m.ck];
        const std::int64_t expires = m.ttl_s > 0 ? now_ms + m.ttl_s * 1000 : 0;
        if (m.marker && m.ts >= r.marker_ts) {
            r.marker = true;
            r.marker_ts = m.ts;
            r.marker_expires_ms = expires;
        }
        for (const auto& [idx, v] : m.cells) {
            cell& c = r.cells[idx];
            if (m.ts >= c.ts) {
                c.v = v;
                c.ts = m.ts;
                c.expires_ms = v ? expires : 0;
            }
        }
        return;
    }
    const auto pit = t.partitions.find(key);
    if (pit == t.partitions.end()) {
        return;
    }
    auto& rows = pit->second.rows;
    if (m.kind == mutation_kind::delete_cells) {
        const auto rit = rows.find(m.ck);
        if (rit == rows.end()) {
            return;
        }
        for (const auto& [idx, v] : m.cells) {
            cell& c = rit->second.cells[idx];
            if (m.ts >= c.ts) {
                c.v.reset();
                c.ts = m.ts;
            }
        }
        return;
    }
    if (m.ck_filters.empty()) {
        t.partitions.erase(pit);
        return;
    }
    for (auto rit = rows.begin(); rit != rows.end();) {
        const bool hit = std::all_of(m.ck_filters.begin(), m.ck_filters.end(), [&](const filter& f) {
            const auto& col = t.columns[f.column];
            return matches(col.type, rit->first[col.position], f.op, f.value);
        });
        rit = hit ? rows.erase(rit) : std::next(rit);
    }
    if (rows.empty()) {
        t.partitions.erase(pit);
    }
}

// --- SELECT --------------------------------------------------------------------------------

namespace {

std::vector<std::vector<cql::value>> run_select(const select_plan& p, std::int64_t now) {
    const table& t = *p.target;
    std::vector<std::vector<cql::value>> out;
    const auto full_row = [&](const partition& part, const std::vector<std::string>& ck, const row& r) {
        std::vector<cql::value> v(t.columns.size());
        for (std::size_t i = 0; i < t.pk.size(); ++i) {
            v[t.pk[i]] = part.key[i];
        }
        for (std::size_t i = 0; i < t.ck.size(); ++i) {
            v[t.ck[i]] = ck[i];
        }
        for (const auto& [idx, c] : r.cells) {
            if (cell_live(c, now)) {
                v[idx] = c.v;
            }
        }
        return v;
    };
    const auto limit_reached = [&] { return p.limit && out.size() >= static_cast<std::size_t>(*p.limit); };
    const auto emit = [&](const partition& part) {
        const auto visit = [&](const auto& entry) {
            const auto& [ck, r] = entry;
            if (!row_live(r, now)) {
                return;
            }
            auto v = full_row(part, ck, r);
            for (const auto* filters : {&p.where.ck_filters, &p.where.regular_filters}) {
                for (const auto& f : *filters) {
                    if (!matches(t.columns[f.column].type, v[f.column], f.op, f.value)) {
                        return;
                    }
                }
            }
            out.push_back(std::move(v));
        };
        if (p.reverse) {
            for (auto it = part.rows.rbegin(); it != part.rows.rend() && !limit_reached(); ++it) {
                visit(*it);
            }
        } else {
            for (auto it = part.rows.begin(); it != part.rows.end() && !limit_reached(); ++it) {
                visit(*it);
            }
        }
    };
    if (p.where.full_pk()) {
        std::vector<std::string> pk;
        for (const auto& v : p.where.pk_eq) {
            pk.push_back(v.value_or(std::string()));
        }
        const auto it = t.partitions.find(key_of(pk));
        if (it != t.partitions.end()) {
            emit(it->second);
        }
    } else {
        for (const auto& [key, part] : t.partitions) {
            if (limit_reached()) {
                break;
            }
            const std::int64_t token = key.first;
            if (p.where.token_lo && (p.where.lo_inclusive ? token < *p.where.token_lo : token <= *p.where.token_lo)) {
                continue;
            }
            if (p.where.token_hi && (p.where.hi_inclusive ? token > *p.where.token_hi : token >= *p.where.token_hi)) {
                continue;
            }
            emit(part);
        }
    }
    return out;
}


}  // namespace

select_plan plan_select(const select_st& st, const std::string& current_ks, const exec_env& env, eval_ctx& ctx) {
    select_plan p;
    const std::string ks = keyspace_of(st.name, current_ks);
    table& def = find_table(env.schema, st.name, current_ks);
    p.owned = virtual_table(def, env);
    p.target = p.owned ? p.owned.get() : &def;
    const table& t = *p.target;
    if (st.count) {
        p.result_columns.push_back({t.keyspace, t.name, st.count_alias, simple_type(type_id::bigint)});
    } else if (st.star) {
        p.columns = t.star();
        for (const auto i : p.columns) {
            p.result_columns.push_back(t.spec(i));
        }
    } else {
        for (const auto& s : st.columns) {
            const auto i = t.column(s.column);
            p.columns.push_back(i);
            auto spec = t.spec(i);
            spec.name = s.alias;
            p.result_columns.push_back(std::move(spec));
        }
    }
    p.where = plan_where(t, st.where, ctx);
    const bool needs_filtering =
        !p.where.regular_filters.empty() || (!p.where.ck_filters.empty() && !p.where.full_pk());
    if (needs_filtering && !st.allow_filtering) {
        invalid("Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                "performance. If you want to execute this query despite the performance unpredictability, use "
                "ALLOW FILTERING");
    }
    if (!st.order_by.empty()) {
        if (!p.where.full_pk()) {
            invalid("ORDER BY is only supported when the partition key is restricted by an EQ or an IN.");
        }
        for (std::size_t i = 0; i < st.order_by.size(); ++i) {
            const auto idx = t.column(st.order_by[i].first);
            if (i >= t.ck.size() || t.ck[i] != idx) {
                invalid(fmt::format("Order by currently only supports the ordering of columns following their "
                                    "declared order in the PRIMARY KEY ({} is not clustering column {})",
                                    st.order_by[i].first, i));
            }
            const bool rev = st.order_by[i].second != t.columns[idx].desc;
            if (i == 0) {
                p.reverse = rev;
            } else if (rev != p.reverse) {
                invalid("Unsupported order by relation");
            }
        }
    }
    if (st.limit) {
        p.limit = ctx.eval_int(*st.limit, "[limit]", type_id::int_);
        if (p.limit && *p.limit <= 0) {
            invalid(fmt::format("LIMIT must be strictly positive, not {}", *p.limit));
        }
    }
    (void)ks;
    return p;
}


cql::rows_metadata rows_metadata_of(const std::vector<cql::column_spec>& columns, bool skip) {
    cql::rows_metadata m;
    m.column_count = static_cast<std::int32_t>(columns.size());
    if (skip) {
        m.no_metadata_flag = true;
    } else {
        m.columns = columns;
    }
    return m;
}

cql::rows_result select_rows(const select_st& st, const select_plan& p, const cql::query_parameters& params,
                        std::int64_t now) {
    auto rows = run_select(p, now);
    cql::rows_result r;
    r.metadata = rows_metadata_of(p.result_columns, params.skip_metadata);
    if (st.count) {
        r.rows.push_back({be_bytes(rows.size(), 8)});
        return r;
    }
    std::size_t offset = 0;
    if (params.paging_state) {
        if (params.paging_state->size() != 8) {
            fail(cql::error_code::protocol_error, "Invalid paging state (not one from the rtcrm CQL test peer)");
        }
        offset = static_cast<std::size_t>(be_signed(*params.paging_state));
    }
    std::size_t end = rows.size();
    if (params.page_size && *params.page_size > 0) {
        end = std::min(rows.size(), offset + static_cast<std::size_t>(*params.page_size));
        if (end < rows.size()) {
            r.metadata.paging_state = be_bytes(end, 8);
        }
    }
    for (std::size_t i = offset; i < end; ++i) {
        std::vector<cql::value> projected;
        for (const auto c : p.columns) {
            projected.push_back(std::move(rows[i][c]));
        }
        r.rows.push_back(std::move(projected));
    }
    return r;
}

}  // namespace rtcrm::test::engine
