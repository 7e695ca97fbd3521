#include "support/cql_engine_tables.hpp"

namespace rtcrm::test::engine {

partition_key key_of(const std::vector<std::string>& pk_values) {
    std::vector<std::string_view> parts(pk_values.begin(), pk_values.end());
    std::string rk = cql::routing_key(parts);
    const std::int64_t token = cql::murmur3_token(rk);
    return {token, std::move(rk)};
}

cql::value eval_ctx::eval(const term& t, const cql::column_spec& target) {
    if (t.kind == term_kind::marker) {
        if (t.marker < specs.size()) {
            specs[t.marker] = target;
        }
        if (describing()) {
            return std::nullopt;
        }
        const cql::value& v = (*values)[t.marker];
        const std::size_t size = fixed_size(target.type.id);
        if (v && !v->empty() && size != 0 && v->size() != size) {
            invalid(fmt::format("Expected {} or 0 byte {} for \"{}\" ({})", size, type_name(target.type),
                                target.name, v->size()));
        }
        if (v && target.type.id == type_id::inet && v->size() != 4 && v->size() != 16) {
            invalid(fmt::format("Invalid inet address of {} bytes for \"{}\"", v->size(), target.name));
        }
        return v;
    }
    return literal(t, target.type, target.name, now_ms);
}

std::optional<std::int64_t> eval_ctx::eval_int(const term& t, const std::string& name, type_id id) {
    const auto v = eval(t, {"", "", name, simple_type(id)});
    if (!v || v->empty()) {
        return std::nullopt;
    }
    return be_signed(*v);
}

keyspace_def& find_keyspace(schema_t& s, const std::string& name) {
    const auto it = s.keyspaces.find(name);
    if (it == s.keyspaces.end()) {
        invalid(fmt::format("Keyspace {} does not exist", name));
    }
    return it->second;
}

std::string keyspace_of(const qualified_name& n, const std::string& current) {
    if (!n.keyspace.empty()) {
        return n.keyspace;
    }
    if (current.empty()) {
        invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
    }
    return current;
}

table& find_table(schema_t& s, const qualified_name& n, const std::string& current) {
    const std::string ks = keyspace_of(n, current);
    auto& k = find_keyspace(s, ks);
    const auto it = k.tables.find(n.table);
    if (it == k.tables.end()) {
        invalid(fmt::format("unconfigured table {}", n.table));
    }
    return *it->second;
}

}  // namespace rtcrm::test::engine
