#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_source.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <span>
#include <sstream>

namespace rtcrm {

namespace {

using json_value = rapidjson::Value;

// Limits shared by the loader and validate(), so a file and flags are held to the same rules.
constexpr std::uint64_t max_shards = 1024;
constexpr std::uint64_t max_players = 100'000'000;      // generator_options::validate
constexpr std::uint64_t min_memory_limit = 256 * 1024;  // lua_options::validate
constexpr std::uint64_t min_call_memory_budget = 64 * 1024;  // lua_options::validate
constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t max_size = std::numeric_limits<std::size_t>::max();

constexpr std::string_view duration_expected = R"(expected a duration like "1w", "30d", "12h", "15m", "10s" or "250ms")";
constexpr std::string_view start_expected =
    "expected committed | earliest | latest | a timestamp (ms, or YYYY-MM-DDTHH:MM:SSZ)";

// A value as JSON text, shortened (at a UTF-8 boundary) so a message stays one line.
std::string render(const json_value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    std::string text{buf.GetString(), buf.GetSize()};
    constexpr std::size_t limit = 60;
    if (text.size() > limit) {
        std::size_t cut = limit - 3;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
            --cut;
        }
        text.resize(cut);
        text += "...";
    }
    return text;
}

std::string render(std::string_view s) {
    return render(json_value(rapidjson::StringRef(s.data(), static_cast<rapidjson::SizeType>(s.size()))));
}

// "a | b | c"
std::string alternatives(std::span<const std::string_view> names) { return fmt::format("{}", fmt::join(names, " | ")); }

// The JSON path of member `name` of the object at `path`: $.a.b, or $.a["b.c"] when
// the name is not a plain identifier.
std::string member_path(const std::string& path, std::string_view name) {
    const bool plain = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) != 0 || name[0] == '_') &&
                       std::all_of(name.begin(), name.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
                       });
    return plain ? fmt::format("{}.{}", path, name) : fmt::format("{}[{}]", path, render(name));
}

// --- value rules: each returns "" when the value is fine, else what was expected -----

std::string integer_expected(std::uint64_t min, std::uint64_t max) {
    if (min == 0 && max == max_u64) {
        return "expected a non-negative integer";
    }
    if (min == 1 && max == max_u64) {
        return "expected a positive integer";
    }
    return fmt::format("expected an integer from {} to {}", min, max);
}

std::string check_integer(std::uint64_t n, std::uint64_t min, std::uint64_t max) {
    return n < min || n > max ? integer_expected(min, max) : std::string{};
}

std::string check_not_empty(std::string_view s) { return s.empty() ? "expected a non-empty string" : std::string{}; }

std::string check_duration(std::string_view s, bool empty_ok) {
    if (s.empty() && empty_ok) {
        return {};
    }
    return parse_duration(s) ? std::string{}
                                    : fmt::format("{}{}", duration_expected, empty_ok ? R"( or "")" : "");
}

bool is_port(std::string_view s) {
    std::uint16_t port = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

std::string check_listen(std::string_view s, bool empty_ok) {
    if (s.empty() && empty_ok) {
        return {};
    }
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || !is_port(s.substr(colon + 1))) {
        return empty_ok ? R"(expected HOST:PORT (port 0: any free port) or "" for none)"
                        : "expected HOST:PORT (port 0: any free port)";
    }
    return {};
}

// As webhook_sink accepts it: http:// (no TLS), a host and a port, then an optional path.
std::string check_url(std::string_view s) {
    constexpr std::string_view scheme = "http://";
    bool ok = s.starts_with(scheme);
    if (ok) {
        const auto rest = s.substr(scheme.size());
        const auto authority = rest.substr(0, rest.find('/'));
        const auto colon = authority.rfind(':');
        ok = colon != std::string_view::npos && colon > 0 && is_port(authority.substr(colon + 1));
    }
    return ok ? std::string{} : "expected http://HOST:PORT[/PATH] (no https)";
}

std::string check_start(std::string_view s) {
    try {
        kafka_start start{};
        std::int64_t timestamp_ms = 0;
        parse_kafka_start(s, start, timestamp_ms);
        return {};
    } catch (const error&) {
        return std::string{start_expected};
    }
}

std::string check_campaign_id(std::string_view s) { return s.empty() ? "expected a campaign id" : std::string{}; }

std::string check_cql_identifier(std::string_view s) {
    return is_cql_identifier(s) ? std::string{} : "expected a CQL identifier (a letter, then letters, digits or _; at most 48)";
}

std::string check_cql_map(std::string_view s) {
    return s.size() >= 2 && s.front() == '{' && s.back() == '}'
               ? std::string{}
               : "expected a CQL map literal, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}";
}

std::string check_consistency(std::string_view s) {
    return parse_cassandra_consistency(s) ? std::string{}
                                          : "expected a consistency level: one | two | three | quorum | all | local_quorum | each_quorum | local_one";
}

// --- kinds ----------------------------------------------------------------------------

constexpr std::string_view source_kinds[] = {"generator", "ndjson", "kafka", "http"};
constexpr std::string_view store_kinds[] = {"memory", "lmdb", "cassandra"};
constexpr std::string_view trigger_kinds[] = {"ndjson", "kafka", "webhook"};
constexpr std::string_view dead_letter_kinds[] = {"ndjson", "kafka"};
constexpr std::string_view shadow_kinds[] = {"ndjson"};
constexpr std::string_view scenarios[] = {"", "bob"};
constexpr std::string_view shard_policies[] = {"inherit", "batch", "fifo"};  // thread_policy_name

bool one_of(std::string_view s, std::span<const std::string_view> names) {
    return std::find(names.begin(), names.end(), s) != names.end();
}

// --- the loader -----------------------------------------------------------------------

// One member of an object: its name and how to read it into the configuration.
struct member {
    std::string_view name;
    std::function<void(const json_value&, const std::string& path)> read;
};

// One kind of a kinded object ("source", "sinks.triggers", ...): its name and members.
struct kind {
    std::string_view name;
    std::vector<member> members;
};

class loader {
public:
    loader(std::string_view file, topology_config& config) : file_(file), c_(config) {}

    void read_root(const json_value& root) {
        object(root, "$",
               {
                   {"shards", [this](auto& v, auto& p) { c_.shards = u32(v, p, 0, max_shards); }},
                   {"shard_policy",
                    [this](auto& v, auto& p) {
                        c_.shard_policy = string(v, p);
                        if (!one_of(c_.shard_policy, shard_policies)) {
                            fail(p, fmt::format("unknown shard policy {} ({})", render(v), alternatives(shard_policies)));
                        }
                    }},
                   {"shard_priority", [this](auto& v, auto& p) { c_.shard_priority = u32(v, p, 1, 99); }},
                   {"drain_timeout", [this](auto& v, auto& p) { c_.drain_timeout = string(v, p, any_duration); }},
                   {"stuck_after", [this](auto& v, auto& p) { c_.stuck_after = string(v, p, any_duration); }},
                   {"shutdown_grace", [this](auto& v, auto& p) { c_.shutdown_grace = string(v, p, any_duration); }},
                   {"source", [this](auto& v, auto& p) { read_source(v, p); }},
                   {"parse", [this](auto& v, auto& p) { read_parse(v, p); }},
                   {"validation", [this](auto& v, auto& p) { read_validation(v, p); }},
                   {"scripts", [this](auto& v, auto& p) { read_scripts(v, p); }},
                   {"store", [this](auto& v, auto& p) { read_store(v, p); }},
                   {"sinks", [this](auto& v, auto& p) { read_sinks(v, p); }},
                   {"kafka", [this](auto& v, auto& p) { read_kafka(v, p); }},
                   {"admin", [this](auto& v, auto& p) { read_admin(v, p); }},
               });
    }

private:
    void read_source(const json_value& v, const std::string& path) {
        const std::vector<kind> kinds{
            {"generator",
             {{"events", [this](auto& x, auto& p) { c_.events = u64(x, p, 0, max_u64); }},
              {"players", [this](auto& x, auto& p) { c_.players = u64(x, p, 1, max_players); }},
              {"seed", [this](auto& x, auto& p) { c_.seed = u64(x, p, 0, max_u64); }},
              {"rate", [this](auto& x, auto& p) { c_.rate = non_negative_number(x, p); }},
              {"scenario",
               [this](auto& x, auto& p) {
                   c_.scenario = string(x, p);
                   if (!one_of(c_.scenario, scenarios)) {
                       fail(p, fmt::format(R"(unknown scenario {} ("" | bob))", render(x)));
                   }
               }}}},
            {"ndjson", {{"input", [this](auto& x, auto& p) { c_.input = string(x, p, check_not_empty); }}}},
            {"kafka",
             {{"topic", [this](auto& x, auto& p) { c_.topic = string(x, p, check_not_empty); }},
              {"group", [this](auto& x, auto& p) { c_.group = string(x, p, check_not_empty); }},
              {"start", [this](auto& x, auto& p) { c_.start = string(x, p, check_start); }},
              {"revoke_timeout_ms", [this](auto& x, auto& p) { c_.revoke_timeout_ms = u64(x, p, 0, max_u64); }}}},
            {"http",
             {{"listen",
               [this](auto& x, auto& p) {
                   c_.listen = string(x, p, [](std::string_view s) { return check_listen(s, false); });
               }},
              {"queue", [this](auto& x, auto& p) { c_.http_queue = u64(x, p, 1, max_size); }}}},
        };
        c_.source = kinded(v, path, "source", c_.source, kinds);
    }

    void read_parse(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"key_field", [this](auto& x, auto& p) { c_.key_field = string(x, p, check_not_empty); }},
                   {"max_event_size", [this](auto& x, auto& p) { c_.max_event_size = u64(x, p, 1, max_size); }},
               });
    }

    void read_validation(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"schemas", [this](auto& x, auto& p) { c_.schemas = string(x, p); }},
                   {"reject_unknown_types", [this](auto& x, auto& p) { c_.reject_unknown = boolean(x, p); }},
               });
    }

    void read_scripts(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"dir", [this](auto& x, auto& p) { c_.scripts = string(x, p); }},
                   {"watch", [this](auto& x, auto& p) { c_.watch = boolean(x, p); }},
                   {"guards", [this](auto& x, auto& p) { read_guards(x, p); }},
               });
    }

    void read_guards(const json_value& v, const std::string& path) {
        object(
            v, path,
            {
                {"instruction_budget", [this](auto& x, auto& p) { c_.instruction_budget = u64(x, p, 1, max_u64); }},
                {"memory_limit", [this](auto& x, auto& p) { c_.memory_limit = u64(x, p, min_memory_limit, max_size); }},
                {"max_consecutive_errors",
                 [this](auto& x, auto& p) { c_.max_consecutive_errors = u32(x, p, 1, max_u32); }},
                {"call_deadline", [this](auto& x, auto& p) { c_.call_deadline = string(x, p, positive_duration); }},
                {"load_deadline", [this](auto& x, auto& p) { c_.load_deadline = string(x, p, positive_duration); }},
                {"call_memory_budget",
                 [this](auto& x, auto& p) { c_.call_memory_budget = u64(x, p, min_call_memory_budget, max_size); }},
                {"max_error_share", [this](auto& x, auto& p) { c_.max_error_share = share(x, p); }},
                {"max_failure_time_share", [this](auto& x, auto& p) { c_.max_failure_time_share = share(x, p); }},
                {"disabled_campaigns", [this](auto& x, auto& p) { c_.disabled_campaigns = campaign_ids(x, p); }},
            });
    }

    void read_store(const json_value& v, const std::string& path) {
        // Every store takes the cache and TTL members; only lmdb has a path.
        auto common = [this]() {
            return std::vector<member>{
                {"sync", [this](auto& x, auto& p) { c_.store_no_sync = !boolean(x, p); }},
                {"cache_max_profiles", [this](auto& x, auto& p) { c_.cache_max = u64(x, p, 0, max_size); }},
                {"profile_ttl", [this](auto& x, auto& p) { c_.profile_ttl = string(x, p, duration_or_empty); }},
                {"history_ttl", [this](auto& x, auto& p) { c_.history_ttl = string(x, p, duration_or_empty); }},
                {"ttl_sweep_interval",
                 [this](auto& x, auto& p) { c_.ttl_sweep_interval = string(x, p, positive_duration); }},
            };
        };
        std::vector<kind> kinds{{"memory", common()}, {"lmdb", common()}, {"cassandra", common()}};
        // "path": "" is harmless with a memory store (the shape shown in the docs has it);
        // a real path there means the kind was forgotten.
        kinds[0].members.push_back({"path", [this](auto& x, auto& p) {
                                        if (!string(x, p).empty()) {
                                            fail(p, R"(only for store kind "lmdb" (the store kind is "memory"))");
                                        }
                                    }});
        kinds[1].members.push_back({"path", [this](auto& x, auto& p) { c_.store_path = string(x, p); }});
        auto& cassandra = kinds[2].members;
        cassandra.push_back({"hosts", [this](auto& x, auto& p) { c_.cassandra_hosts = string(x, p, check_not_empty); }});
        cassandra.push_back({"keyspace", [this](auto& x, auto& p) { c_.keyspace = string(x, p, check_cql_identifier); }});
        cassandra.push_back({"replication", [this](auto& x, auto& p) { c_.cassandra_replication = string(x, p, check_cql_map); }});
        cassandra.push_back({"consistency", [this](auto& x, auto& p) { c_.cassandra_consistency = string(x, p, check_consistency); }});
        cassandra.push_back({"username", [this](auto& x, auto& p) { c_.cassandra_username = string(x, p); }});
        cassandra.push_back({"event_ttl", [this](auto& x, auto& p) { c_.event_ttl = string(x, p, duration_or_empty); }});
        c_.store = kinded(v, path, "store", c_.store, kinds);
    }

    void read_sinks(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"triggers", [this](auto& x, auto& p) { read_triggers(x, p); }},
                   {"dead_letters", [this](auto& x, auto& p) { read_dead_letters(x, p); }},
                   {"shadow", [this](auto& x, auto& p) { read_shadow(x, p); }},
               });
    }

    void read_triggers(const json_value& v, const std::string& path) {
        const std::vector<kind> kinds{
            {"ndjson", {{"path", [this](auto& x, auto& p) { c_.output = string(x, p, check_not_empty); }}}},
            {"kafka", {{"topic", [this](auto& x, auto& p) { c_.trigger_topic = string(x, p, check_not_empty); }}}},
            {"webhook",
             {{"url", [this](auto& x, auto& p) { c_.webhook_url = string(x, p, check_url); }},
              {"one_by_one", [this](auto& x, auto& p) { c_.webhook_one_by_one = boolean(x, p); }}}},
        };
        c_.sink = kinded(v, path, "trigger sink", c_.sink, kinds);
    }

    void read_dead_letters(const json_value& v, const std::string& path) {
        // The kind is not a field of its own: a dead-letter topic means Kafka.
        const std::vector<kind> kinds{
            {"ndjson", {{"path", [this](auto& x, auto& p) { c_.dead_letter = string(x, p, check_not_empty); }}}},
            {"kafka", {{"topic", [this](auto& x, auto& p) { c_.dead_letter_topic = string(x, p, check_not_empty); }}}},
        };
        const auto k = kinded(v, path, "dead-letter sink", c_.dead_letter_topic.empty() ? "ndjson" : "kafka", kinds);
        if (k == "ndjson") {
            c_.dead_letter_topic.clear();
        } else if (c_.dead_letter_topic.empty()) {
            fail(member_path(path, "topic"), R"(required for dead-letter sink kind "kafka")");
        }
    }

    void read_shadow(const json_value& v, const std::string& path) {
        const std::vector<kind> kinds{
            {"ndjson", {{"path", [this](auto& x, auto& p) { c_.shadow = string(x, p, check_not_empty); }}}},
        };
        kinded(v, path, "shadow sink", "ndjson", kinds);
        if (c_.shadow.empty()) {
            fail(member_path(path, "path"), R"(required for shadow sink kind "ndjson")");
        }
    }

    void read_kafka(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"brokers", [this](auto& x, auto& p) { c_.brokers = string(x, p); }},
                   {"properties", [this](auto& x, auto& p) { c_.kafka_properties = properties(x, p); }},
                   {"maintenance_topic", [this](auto& x, auto& p) { c_.maintenance_topic = string(x, p); }},
                   {"maintenance_interval_ms",
                    [this](auto& x, auto& p) { c_.maintenance_interval_ms = u64(x, p, 1, max_u64); }},
                   {"instance_id", [this](auto& x, auto& p) { c_.instance_id = string(x, p); }},
                   {"handlers_topic", [this](auto& x, auto& p) { c_.handlers_topic = string(x, p); }},
               });
    }

    void read_admin(const json_value& v, const std::string& path) {
        object(v, path,
               {
                   {"listen",
                    [this](auto& x, auto& p) {
                        c_.admin = string(x, p, [](std::string_view s) { return check_listen(s, true); });
                    }},
                   {"token_file", [this](auto& x, auto& p) { c_.admin_token_file = string(x, p); }},
               });
    }

    // --- objects ---

    [[noreturn]] void fail(const std::string& path, std::string_view what) const {
        throw error(errc::invalid_config, fmt::format("{}: {}: {}", file_, path, what));
    }
    [[noreturn]] void fail_got(const std::string& path, std::string_view expected, const json_value& got) const {
        fail(path, fmt::format("{}, got {}", expected, render(got)));
    }

    // An object, without duplicate members (RapidJSON keeps them; the last would win silently).
    void check_object(const json_value& v, const std::string& path) const {
        if (!v.IsObject()) {
            fail_got(path, "expected an object", v);
        }
        for (auto i = v.MemberBegin(); i != v.MemberEnd(); ++i) {
            for (auto j = v.MemberBegin(); j != i; ++j) {
                if (i->name == j->name) {
                    fail(member_path(path, i->name.GetString()), "duplicate field");
                }
            }
        }
    }

    static std::string names(const std::vector<member>& members, bool with_kind) {
        std::vector<std::string_view> all;
        if (with_kind) {
            all.emplace_back("kind");
        }
        for (const auto& m : members) {
            all.push_back(m.name);
        }
        return alternatives(all);
    }

    void object(const json_value& v, const std::string& path, const std::vector<member>& members) const {
        check_object(v, path);
        for (const auto& field : v.GetObject()) {
            const std::string_view name{field.name.GetString(), field.name.GetStringLength()};
            const auto m =
                std::find_if(members.begin(), members.end(), [&](const member& x) { return x.name == name; });
            if (m == members.end()) {
                fail(member_path(path, name), fmt::format("unknown field ({})", names(members, false)));
            }
            m->read(field.value, member_path(path, name));
        }
    }

    // An object with a "kind" (given, or `current`) whose other members must belong to
    // that kind. Returns the kind.
    std::string kinded(const json_value& v, const std::string& path, std::string_view what, const std::string& current,
                       const std::vector<kind>& kinds) const {
        check_object(v, path);
        std::vector<std::string_view> kind_names;
        for (const auto& k : kinds) {
            kind_names.push_back(k.name);
        }
        std::string chosen = current;
        const auto given = v.FindMember("kind");
        if (given != v.MemberEnd()) {
            const auto kind_path = member_path(path, "kind");
            chosen = string(given->value, kind_path);
            if (!one_of(chosen, kind_names)) {
                fail(kind_path,
                     fmt::format("unknown {} {} ({})", what, render(given->value), alternatives(kind_names)));
            }
        }
        const auto k = std::find_if(kinds.begin(), kinds.end(), [&](const kind& x) { return x.name == chosen; });
        if (k == kinds.end()) {
            // Only when the defaults hold a kind this loader does not know.
            fail(member_path(path, "kind"), fmt::format("missing, and the default {} {} is not one of ({})", what,
                                                        render(chosen), alternatives(kind_names)));
        }
        for (const auto& field : v.GetObject()) {
            const std::string_view name{field.name.GetString(), field.name.GetStringLength()};
            if (name == "kind") {
                continue;
            }
            const auto p = member_path(path, name);
            const auto m =
                std::find_if(k->members.begin(), k->members.end(), [&](const member& x) { return x.name == name; });
            if (m != k->members.end()) {
                m->read(field.value, p);
                continue;
            }
            const bool elsewhere = std::any_of(kinds.begin(), kinds.end(), [&](const kind& other) {
                return std::any_of(other.members.begin(), other.members.end(),
                                   [&](const member& x) { return x.name == name; });
            });
            if (elsewhere) {
                fail(p, fmt::format("not a field of {} kind {} ({})", what, render(chosen), names(k->members, true)));
            }
            fail(p, fmt::format("unknown field ({})", names(k->members, true)));
        }
        return chosen;
    }

    // --- scalars ---

    std::uint64_t u64(const json_value& v, const std::string& path, std::uint64_t min, std::uint64_t max) const {
        if (!v.IsUint64() || !check_integer(v.GetUint64(), min, max).empty()) {
            fail_got(path, integer_expected(min, max), v);
        }
        return v.GetUint64();
    }

    std::uint32_t u32(const json_value& v, const std::string& path, std::uint64_t min, std::uint64_t max) const {
        return static_cast<std::uint32_t>(u64(v, path, min, std::min(max, max_u32)));
    }

    double non_negative_number(const json_value& v, const std::string& path) const {
        if (!v.IsNumber() || !(v.GetDouble() >= 0) || !std::isfinite(v.GetDouble())) {
            fail_got(path, "expected a non-negative number", v);
        }
        return v.GetDouble();
    }

    double share(const json_value& v, const std::string& path) const {
        if (!v.IsNumber() || !(v.GetDouble() >= 0 && v.GetDouble() <= 1)) {
            fail_got(path, "expected a number from 0 to 1", v);
        }
        return v.GetDouble();
    }

    bool boolean(const json_value& v, const std::string& path) const {
        if (!v.IsBool()) {
            fail_got(path, "expected true or false", v);
        }
        return v.GetBool();
    }

    std::string string(const json_value& v, const std::string& path) const {
        if (!v.IsString()) {
            fail_got(path, "expected a string", v);
        }
        return {v.GetString(), v.GetStringLength()};
    }

    template <typename Check>
    std::string string(const json_value& v, const std::string& path, Check check) const {
        auto s = string(v, path);
        if (const auto expected = check(s); !expected.empty()) {
            fail_got(path, expected, v);
        }
        return s;
    }

    static std::string duration_or_empty(std::string_view s) { return check_duration(s, true); }
    static std::string any_duration(std::string_view s) { return check_duration(s, false); }
    static std::string positive_duration(std::string_view s) {
        auto expected = check_duration(s, false);
        if (expected.empty() && parse_duration(s)->count() == 0) {
            expected = fmt::format("{} (more than 0)", duration_expected);
        }
        return expected;
    }

    // Campaign ids as Lua scripts write them: strings or non-negative integers.
    std::vector<std::string> campaign_ids(const json_value& v, const std::string& path) const {
        if (!v.IsArray()) {
            fail_got(path, "expected an array of campaign ids", v);
        }
        std::vector<std::string> ids;
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            const auto p = fmt::format("{}[{}]", path, i);
            const auto& id = v[i];
            if (id.IsUint64()) {
                ids.push_back(std::to_string(id.GetUint64()));
            } else if (id.IsString() && id.GetStringLength() > 0) {
                ids.emplace_back(id.GetString(), id.GetStringLength());
            } else {
                fail_got(p, "expected a campaign id (a non-empty string or a non-negative integer)", id);
            }
        }
        return ids;
    }

    // librdkafka properties: an object of strings (numbers and booleans are written as text).
    std::vector<std::string> properties(const json_value& v, const std::string& path) const {
        check_object(v, path);
        std::vector<std::string> out;
        for (const auto& field : v.GetObject()) {
            const std::string_view name{field.name.GetString(), field.name.GetStringLength()};
            const auto& value = field.value;
            const auto p = member_path(path, name);
            if (name.empty() || name.find('=') != std::string_view::npos) {
                fail(p, "a property name must be non-empty and without '='");
            }
            std::string text;
            if (value.IsString()) {
                text.assign(value.GetString(), value.GetStringLength());
            } else if (value.IsBool()) {
                text = value.GetBool() ? "true" : "false";
            } else if (value.IsInt64() || value.IsUint64()) {
                text = render(value);
            } else {
                fail_got(p, "expected a string (or an integer or true/false)", value);
            }
            out.push_back(fmt::format("{}={}", name, text));
        }
        return out;
    }

    std::string file_;
    topology_config& c_;
};

// 1-based line and column of a byte offset.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const auto before = text.substr(0, offset);
    const auto line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
    const auto last_newline = before.rfind('\n');
    const auto column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
    return {line, column};
}

// validate(): the same rules as the loader, for values set in code or by flags.
class checker {
public:
    explicit checker(const topology_config& c) : c_(c) {}

    void run() const {
        integer("$.shards", c_.shards, 0, max_shards);
        kind("$.shard_policy", "shard policy", c_.shard_policy, shard_policies);
        if (c_.shard_policy == "fifo") {
            integer("$.shard_priority", c_.shard_priority, 1, 99);
        }
        for (const auto& [path, value] : {std::pair{"$.drain_timeout", &c_.drain_timeout}, std::pair{"$.stuck_after", &c_.stuck_after},
                                          std::pair{"$.shutdown_grace", &c_.shutdown_grace}}) {
            text(path, *value, [](std::string_view s) { return check_duration(s, false); });
        }
        kind("$.source.kind", "source", c_.source, source_kinds);
        if (c_.source == "generator") {
            integer("$.source.players", c_.players, 1, max_players);
            if (!(c_.rate >= 0) || !std::isfinite(c_.rate)) {
                fail("$.source.rate", fmt::format("expected a non-negative number, got {}", c_.rate));
            }
            if (!one_of(c_.scenario, scenarios)) {
                fail("$.source.scenario", fmt::format(R"(unknown scenario {} ("" | bob))", render(c_.scenario)));
            }
        } else if (c_.source == "ndjson") {
            text("$.source.input", c_.input, check_not_empty);
        } else if (c_.source == "kafka") {
            text("$.source.topic", c_.topic, check_not_empty);
            text("$.source.group", c_.group, check_not_empty);
            text("$.source.start", c_.start, check_start);
            need_brokers(R"(source kind "kafka")");
        } else if (c_.source == "http") {
            text("$.source.listen", c_.listen, [](std::string_view s) { return check_listen(s, false); });
            integer("$.source.queue", c_.http_queue, 1, max_size);
        }
        text("$.parse.key_field", c_.key_field, check_not_empty);
        integer("$.parse.max_event_size", c_.max_event_size, 1, max_size);

        const bool engine = !c_.scripts.empty() || !c_.handlers_topic.empty();
        if (c_.watch && c_.scripts.empty()) {
            fail("$.scripts.watch", "needs $.scripts.dir");
        }
        if (engine) {
            integer("$.scripts.guards.instruction_budget", c_.instruction_budget, 1, max_u64);
            integer("$.scripts.guards.memory_limit", c_.memory_limit, min_memory_limit, max_size);
            integer("$.scripts.guards.max_consecutive_errors", c_.max_consecutive_errors, 1, max_u32);
            integer("$.scripts.guards.call_memory_budget", c_.call_memory_budget, min_call_memory_budget, max_size);
            const auto more_than_zero = [](std::string_view s) {
                const auto d = parse_duration(s);
                return d && d->count() > 0 ? std::string{} : fmt::format("{} (more than 0)", duration_expected);
            };
            text("$.scripts.guards.call_deadline", c_.call_deadline, more_than_zero);
            text("$.scripts.guards.load_deadline", c_.load_deadline, more_than_zero);
            for (const auto& [path, value] : {std::pair{"$.scripts.guards.max_error_share", c_.max_error_share},
                                              std::pair{"$.scripts.guards.max_failure_time_share", c_.max_failure_time_share}}) {
                if (!(value >= 0 && value <= 1)) {
                    fail(path, fmt::format("expected a number from 0 to 1, got {}", value));
                }
            }
        }
        for (std::size_t i = 0; i < c_.disabled_campaigns.size(); ++i) {
            text(fmt::format("$.scripts.guards.disabled_campaigns[{}]", i), c_.disabled_campaigns[i],
                 check_campaign_id);
        }
        if (!c_.disabled_campaigns.empty() && !engine) {
            fail("$.scripts.guards.disabled_campaigns", "needs $.scripts.dir or $.kafka.handlers_topic");
        }

        kind("$.store.kind", "store", c_.store, store_kinds);
        if (c_.store == "lmdb" && c_.store_path.empty()) {
            fail("$.store.path", R"(required for store kind "lmdb")");
        }
        if (c_.store == "cassandra") {
            if (c_.cassandra_hosts.empty()) {
                fail("$.store.hosts", R"(required for store kind "cassandra")");
            }
            text("$.store.keyspace", c_.keyspace, check_cql_identifier);
            text("$.store.replication", c_.cassandra_replication, check_cql_map);
            text("$.store.consistency", c_.cassandra_consistency, check_consistency);
            text("$.store.event_ttl", c_.event_ttl, [](std::string_view s) { return check_duration(s, true); });
        }
        text("$.store.profile_ttl", c_.profile_ttl, [](std::string_view s) { return check_duration(s, true); });
        text("$.store.history_ttl", c_.history_ttl, [](std::string_view s) { return check_duration(s, true); });
        text("$.store.ttl_sweep_interval", c_.ttl_sweep_interval, [](std::string_view s) {
            const auto d = parse_duration(s);
            return d && d->count() > 0 ? std::string{} : fmt::format("{} (more than 0)", duration_expected);
        });

        kind("$.sinks.triggers.kind", "trigger sink", c_.sink, trigger_kinds);
        if (c_.sink == "ndjson") {
            text("$.sinks.triggers.path", c_.output, check_not_empty);
        } else if (c_.sink == "kafka") {
            text("$.sinks.triggers.topic", c_.trigger_topic, check_not_empty);
            need_brokers(R"(trigger sink kind "kafka")");
        } else if (c_.sink == "webhook") {
            if (c_.webhook_url.empty()) {
                fail("$.sinks.triggers.url", R"(required for trigger sink kind "webhook")");
            }
            text("$.sinks.triggers.url", c_.webhook_url, check_url);
        }
        if (c_.dead_letter_topic.empty()) {
            text("$.sinks.dead_letters.path", c_.dead_letter, check_not_empty);
        } else {
            need_brokers(R"(dead-letter sink kind "kafka" ($.sinks.dead_letters.topic))");
        }
        if (!c_.handlers_topic.empty()) {
            need_brokers("a handlers topic ($.kafka.handlers_topic)");
        }
        for (std::size_t i = 0; i < c_.kafka_properties.size(); ++i) {
            const auto& kv = c_.kafka_properties[i];
            if (const auto eq = kv.find('='); eq == std::string::npos || eq == 0) {
                fail(fmt::format("$.kafka.properties[{}]", i), fmt::format("expected key=value, got {}", render(kv)));
            }
        }
        if (!c_.brokers.empty() && !c_.maintenance_topic.empty()) {
            integer("$.kafka.maintenance_interval_ms", c_.maintenance_interval_ms, 1, max_u64);
        }
        text("$.admin.listen", c_.admin, [](std::string_view s) { return check_listen(s, true); });
    }

private:
    [[noreturn]] static void fail(const std::string& path, std::string_view what) {
        throw error(errc::invalid_config, fmt::format("topology_config: {}: {}", path, what));
    }

    static void integer(const std::string& path, std::uint64_t n, std::uint64_t min, std::uint64_t max) {
        if (auto expected = check_integer(n, min, max); !expected.empty()) {
            fail(path, fmt::format("{}, got {}", expected, n));
        }
    }

    template <typename Check>
    static void text(const std::string& path, const std::string& s, Check check) {
        if (auto expected = check(s); !expected.empty()) {
            fail(path, fmt::format("{}, got {}", expected, render(s)));
        }
    }

    static void kind(const std::string& path, std::string_view what, const std::string& s,
                     std::span<const std::string_view> kinds) {
        if (!one_of(s, kinds)) {
            fail(path, fmt::format("unknown {} {} ({})", what, render(s), alternatives(kinds)));
        }
    }

    void need_brokers(std::string_view what) const {
        if (c_.brokers.empty()) {
            fail("$.kafka.brokers", fmt::format("required (HOST:PORT[,...]) by {}", what));
        }
    }

    const topology_config& c_;
};

}  // namespace


void topology_config::validate() const { checker(*this).run(); }

topology_config parse_topology_config(std::string_view json, std::string_view file_name, topology_config defaults) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        const auto offset = doc.GetErrorOffset();
        const auto [line, column] = line_column(json, offset);
        throw error(errc::invalid_config,
                    fmt::format("{}: line {}, column {} (offset {}): invalid JSON: {}", file_name, line, column, offset,
                                rapidjson::GetParseError_En(doc.GetParseError())));
    }
    loader(file_name, defaults).read_root(doc);
    return defaults;
}

topology_config load_topology_config(const std::filesystem::path& file, topology_config defaults) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (in) {
        text << in.rdbuf();
    }
    if (!in || in.bad()) {
        const int e = errno;
        throw error(errc::io_error, fmt::format("{}: cannot read the configuration file: {}", file.string(),
                                                e != 0 ? std::strerror(e) : "read failed"));
    }
    return parse_topology_config(text.str(), file.string(), std::move(defaults));
}

}  // namespace rtcrm
