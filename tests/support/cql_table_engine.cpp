#include "support/cql_table_engine.hpp"

#include "support/cql_engine_statements.hpp"
#include "support/cql_engine_syntax.hpp"
#include "support/cql_engine_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <random>
#include <utility>
#include <variant>

namespace rtcrm::test {

using namespace engine;

namespace {

// --- Running statements ---------------------------------------------------------------------

// Cassandra runs conditional statements in a batch only when all are of one partition;
// the test peer runs none there.
void refuse_conditional_in_batch(const write_st& w) {
    if (is_conditional(w)) {
        invalid("the CQL test peer runs no conditional statement (IF ...) in a batch");
    }
}

cql::result_body run(const statement& st, std::size_t markers, const std::vector<cql::value>& values,
                     const std::string& statement_ks, const cql::query_parameters& params, cql_connection_state& conn,
                     exec_env& env) {
    if (values.size() != markers) {
        invalid(fmt::format("There were {} markers(?) in CQL but {} bound variables", markers, values.size()));
    }
    eval_ctx ctx;
    ctx.values = &values;
    ctx.specs.resize(markers);
    ctx.now_ms = env.now_ms;
    return std::visit(
        [&](const auto& s) -> cql::result_body {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, create_keyspace_st>) {
                return create_keyspace(env.schema, s, false);
            } else if constexpr (std::is_same_v<T, create_table_st>) {
                return create_table(env.schema, s, statement_ks, false);
            } else if constexpr (std::is_same_v<T, drop_st>) {
                return drop(env.schema, s, statement_ks);
            } else if constexpr (std::is_same_v<T, use_st>) {
                find_keyspace(env.schema, s.name);
                conn.keyspace = s.name;
                return cql::set_keyspace_result{s.name};
            } else if constexpr (std::is_same_v<T, truncate_st>) {
                table& t = find_table(env.schema, s.name, statement_ks);
                refuse_system(t.keyspace, false);
                t.partitions.clear();
                return cql::void_result{};
            } else if constexpr (std::is_same_v<T, select_st>) {
                const auto plan = plan_select(s, statement_ks, env, ctx);
                return select_rows(s, plan, params, env.now_ms);
            } else if constexpr (std::is_same_v<T, batch_st>) {
                std::optional<std::int64_t> ts = params.default_timestamp;
                if (s.timestamp) {
                    ts = ctx.eval_int(*s.timestamp, "[timestamp]", type_id::bigint);
                }
                std::vector<mutation> ms;
                for (const auto& w : s.statements) {
                    ms.push_back(plan_write(w, statement_ks, env.schema, ctx, env, ts));
                    refuse_conditional_in_batch(w);
                }
                for (const auto& m : ms) {
                    apply(m, env.now_ms);
                }
                return cql::void_result{};
            } else {
                const write_st w{s};
                const auto m = plan_write(w, statement_ks, env.schema, ctx, env, params.default_timestamp);
                if (auto outcome = check_conditions(w, m, ctx, env.now_ms)) {
                    if (outcome->applied) {
                        apply(m, env.now_ms);
                    }
                    return std::move(outcome->answer);
                }
                apply(m, env.now_ms);
                return cql::void_result{};
            }
        },
        st);
}

std::string prepared_id(std::string_view keyspace, std::string_view text) {
    // Two FNV-1a passes with different offsets give 16 stable bytes, enough to tell
    // statements apart in tests (Cassandra uses MD5 of the same inputs).
    const auto fnv = [&](std::uint64_t h) {
        for (const auto part : {keyspace, std::string_view("\0", 1), text}) {
            for (const char c : part) {
                h ^= static_cast<std::uint8_t>(c);
                h *= 0x100000001b3ULL;
            }
        }
        return h;
    };
    return be_bytes(fnv(0xcbf29ce484222325ULL), 8) + be_bytes(fnv(0x84222325cbf29ce4ULL), 8);
}

cql::error_response error_of(const std::exception& e) {
    cql::error_response r;
    r.code = cql::error_code::server_error;
    r.message = fmt::format("rtcrm CQL test peer: {}", e.what());
    return r;
}

cql::error_response unprepared(const std::string& id) {
    cql::error_response e;
    e.code = cql::error_code::unprepared;
    std::string hex;
    for (const char c : id) {
        hex += fmt::format("{:02x}", static_cast<std::uint8_t>(c));
    }
    e.message = fmt::format("Prepared query with ID {} not found (either the query was not prepared on this host "
                            "(maybe the host has been restarted?) or you have prepared too many queries and it has "
                            "been evicted from the internal cache)",
                            hex);
    e.unprepared_id = id;
    return e;
}

}  // namespace

// --- cql_table_engine ------------------------------------------------------------------------

cql_table_engine::cql_table_engine(cql_engine_options options)
    : options_(std::move(options)), schema_(std::make_unique<schema>()) {
    std::mt19937_64 rng(options_.token_seed);
    for (std::size_t i = 0; i < options_.addresses.size(); ++i) {
        cql_node_info n;
        n.address = options_.addresses[i];
        for (std::size_t k = 0; k < options_.tokens_per_node; ++k) {
            auto t = static_cast<std::int64_t>(rng());
            if (t == std::numeric_limits<std::int64_t>::min()) {
                t = 0;
            }
            n.tokens.push_back(t);
        }
        std::sort(n.tokens.begin(), n.tokens.end());
        n.host_id = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0x42, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f};
        n.host_id[15] = static_cast<std::uint8_t>(i);
        n.host_id[14] = static_cast<std::uint8_t>(i >> 8U);
        nodes_.push_back(std::move(n));
    }
    for (const auto ddl : system_ddl) {
        const auto st = parse(ddl).st;
        if (const auto* ks = std::get_if<create_keyspace_st>(&st)) {
            create_keyspace(*schema_, *ks, true);
        } else {
            create_table(*schema_, std::get<create_table_st>(st), "", true);
        }
    }
}

cql_table_engine::~cql_table_engine() = default;

std::int64_t cql_table_engine::now_ms() const {
    const auto now = std::chrono::system_clock::now() + clock_offset_;
    return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
}

std::int64_t cql_table_engine::next_write_timestamp_us() {
    // Strictly increasing, so two writes in the same microsecond still order as sent.
    const auto now = std::chrono::system_clock::now() + clock_offset_;
    const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    last_write_us_ = std::max(us, last_write_us_ + 1);
    return last_write_us_;
}

cql::response cql_table_engine::query(std::string_view cql_text, const cql::query_parameters& params,
                                      cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        const auto parsed = parse(cql_text);
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        return cql::result_response{run(parsed.st, parsed.markers, params.values, conn.keyspace, params, conn, env)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

cql::response cql_table_engine::prepare(std::string_view cql_text, const cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        auto parsed = parse(cql_text);
        auto stmt = std::make_shared<cql_statement>();
        stmt->text = std::string(cql_text);
        stmt->keyspace = conn.keyspace;
        stmt->parsed = std::move(parsed.st);
        stmt->markers = parsed.markers;
        exec_env env{*schema_, nodes_, options_, now_ms(), 0, conn.node};
        eval_ctx ctx;
        ctx.specs.resize(stmt->markers);
        ctx.now_ms = env.now_ms;
        cql::prepared_result r;
        const table* t = nullptr;
        if (const auto* sel = std::get_if<select_st>(&stmt->parsed)) {
            const auto plan = plan_select(*sel, stmt->keyspace, env, ctx);
            r.result_metadata = rows_metadata_of(plan.result_columns, false);
            t = &find_table(*schema_, sel->name, stmt->keyspace);
        } else if (const auto* b = std::get_if<batch_st>(&stmt->parsed)) {
            if (b->timestamp) {
                ctx.eval_int(*b->timestamp, "[timestamp]", type_id::bigint);
            }
            for (const auto& w : b->statements) {
                plan_write(w, stmt->keyspace, *schema_, ctx, env, std::nullopt);
            }
        } else if (std::holds_alternative<insert_st>(stmt->parsed) || std::holds_alternative<update_st>(stmt->parsed) ||
                   std::holds_alternative<delete_st>(stmt->parsed)) {
            const auto m = std::visit(
                [&](const auto& s) -> mutation {
                    using T = std::decay_t<decltype(s)>;
                    if constexpr (std::is_same_v<T, insert_st> || std::is_same_v<T, update_st> ||
                                  std::is_same_v<T, delete_st>) {
                        const write_st w{s};
                        auto planned = plan_write(w, stmt->keyspace, *schema_, ctx, env, std::nullopt);
                        check_conditions(w, planned, ctx, env.now_ms);  // types the conditions' markers
                        return planned;
                    } else {
                        return {};
                    }
                },
                stmt->parsed);
            t = m.target;
        }
        for (std::size_t i = 0; i < ctx.specs.size(); ++i) {
            r.metadata.columns.push_back(ctx.specs[i].value_or(cql::column_spec{"", "", "?", simple_type(type_id::blob)}));
        }
        // Partition key indexes only when every component is bound by a marker: that is
        // when a driver can compute the routing key from the bound values.
        if (t != nullptr && ctx.pk_markers.size() == t->pk.size() && !std::holds_alternative<batch_st>(stmt->parsed)) {
            for (std::size_t i = 0; i < t->pk.size(); ++i) {
                r.metadata.pk_indexes.push_back(static_cast<std::uint16_t>(ctx.pk_markers.at(i)));
            }
        }
        r.id = prepared_id(stmt->keyspace, stmt->text);
        prepared_[r.id] = std::move(stmt);
        return cql::result_response{std::move(r)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

cql::response cql_table_engine::execute(const cql::execute_request& request, cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    const auto it = prepared_.find(request.id);
    if (it == prepared_.end()) {
        return unprepared(request.id);
    }
    const auto& stmt = *it->second;
    try {
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        return cql::result_response{
            run(stmt.parsed, stmt.markers, request.params.values, stmt.keyspace, request.params, conn, env)};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

cql::response cql_table_engine::batch(const cql::batch_request& request, cql_connection_state& conn) {
    const std::lock_guard lock(mutex_);
    try {
        exec_env env{*schema_, nodes_, options_, now_ms(), next_write_timestamp_us(), conn.node};
        // Plan every statement first so that an invalid one leaves the batch unapplied.
        std::vector<mutation> ms;
        for (const auto& bs : request.statements) {
            const statement* st = nullptr;
            std::size_t markers = 0;
            std::string ks = conn.keyspace;
            statement parsed;
            if (bs.prepared) {
                const auto it = prepared_.find(bs.query_or_id);
                if (it == prepared_.end()) {
                    return unprepared(bs.query_or_id);
                }
                st = &it->second->parsed;
                markers = it->second->markers;
                ks = it->second->keyspace;
            } else {
                auto p = parse(bs.query_or_id);
                parsed = std::move(p.st);
                st = &parsed;
                markers = p.markers;
            }
            if (bs.values.size() != markers) {
                invalid(fmt::format("There were {} markers(?) in CQL but {} bound variables", markers, bs.values.size()));
            }
            eval_ctx ctx;
            ctx.values = &bs.values;
            ctx.specs.resize(markers);
            ctx.now_ms = env.now_ms;
            write_st holder;
            if (const auto* i = std::get_if<insert_st>(st)) {
                holder = *i;
            } else if (const auto* u = std::get_if<update_st>(st)) {
                holder = *u;
            } else if (const auto* d = std::get_if<delete_st>(st)) {
                holder = *d;
            } else {
                invalid("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.");
            }
            ms.push_back(plan_write(holder, ks, *schema_, ctx, env, request.default_timestamp));
            refuse_conditional_in_batch(holder);
        }
        for (const auto& m : ms) {
            apply(m, env.now_ms);
        }
        return cql::result_response{cql::void_result{}};
    } catch (const statement_error& e) {
        return e.response;
    } catch (const std::exception& e) {
        return error_of(e);
    }
}

std::optional<std::string> cql_table_engine::prepared_text(std::string_view id) const {
    const std::lock_guard lock(mutex_);
    const auto it = prepared_.find(std::string(id));
    if (it == prepared_.end()) {
        return std::nullopt;
    }
    return it->second->text;
}

void cql_table_engine::forget_prepared() {
    const std::lock_guard lock(mutex_);
    prepared_.clear();
}

std::size_t cql_table_engine::row_count(std::string_view keyspace, std::string_view table_name) const {
    const std::lock_guard lock(mutex_);
    const auto kit = schema_->keyspaces.find(std::string(keyspace));
    if (kit == schema_->keyspaces.end()) {
        return 0;
    }
    const auto tit = kit->second.tables.find(std::string(table_name));
    if (tit == kit->second.tables.end()) {
        return 0;
    }
    return tit->second->live_rows(now_ms());
}

std::size_t cql_table_engine::owner_of(std::int64_t token) const {
    std::vector<std::pair<std::int64_t, std::size_t>> ring;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        for (const auto t : nodes_[i].tokens) {
            ring.emplace_back(t, i);
        }
    }
    if (ring.empty()) {
        return 0;
    }
    std::sort(ring.begin(), ring.end());
    const auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(token, std::size_t{0}));
    return it == ring.end() ? ring.front().second : it->second;
}

void cql_table_engine::advance_clock(std::chrono::milliseconds by) {
    const std::lock_guard lock(mutex_);
    clock_offset_ += by;
}

}  // namespace rtcrm::test
