#include "support/cql_engine_statements.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rtcrm::test::engine {

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
