#include <rtcrm/core/event.hpp>
#include <rtcrm/core/error.hpp>
#include "timer_event.hpp"

#include "bounded_json.hpp"
#include "parsed_key.hpp"

#include <rtcrm/core/json_text.hpp>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

namespace rtcrm {
namespace detail {

// The parsed event lives in one heap block: the original bytes, a memory pool whose first
// chunk is inline, and the DOM allocated from that pool, so a typical event (a few hundred
// bytes) costs one allocation for this block and none for its DOM; larger events spill
// into extra pool chunks. The block stays under glibc's thread-cache limit (1032 bytes),
// which keeps its malloc/free on the fast path. The parser's temporary stack is a
// separate short-lived allocation, freed as the parse ends.
struct payload {
    using document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>;
    static constexpr std::size_t inline_bytes = 640;
    static constexpr std::size_t parse_stack_bytes = 512;

    explicit payload(std::string&& bytes)
        : raw(std::move(bytes)), pool(buffer, inline_bytes, 4096), doc(&pool, parse_stack_bytes) {}

    std::string raw;
    alignas(std::max_align_t) char buffer[inline_bytes];
    rapidjson::MemoryPoolAllocator<> pool;
    document doc;

    // A shard parses a batch of events and frees them a batch later. Freed to glibc, the
    // batch's blocks coalesce into the arena's top, which glibc trims and the shard then
    // faults in again, a few hundred pages a second, in bursts that hold a shard for
    // milliseconds. So each thread keeps up to `max_kept` freed blocks for its next events.
    static constexpr std::size_t max_kept = 512;
    static void* operator new(std::size_t size);
    static void operator delete(void* block) noexcept;
};

namespace {

// The blocks a thread keeps. After it is destroyed (thread exit), blocks are freed as usual.
struct kept_payload_blocks {
    std::vector<void*> blocks;
    ~kept_payload_blocks();
};
thread_local kept_payload_blocks kept_payloads;
thread_local bool kept_payloads_gone = false;  // trivially destructible: valid after the above
kept_payload_blocks::~kept_payload_blocks() {
    kept_payloads_gone = true;
    for (void* block : blocks) {
        ::operator delete(block);
    }
}

// Under AddressSanitizer every block goes back to the allocator, so a use after free
// is still reported.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool keep_payload_blocks = false;
#else
constexpr bool keep_payload_blocks = true;
#endif

}  // namespace

void* payload::operator new(std::size_t size) {
    if (keep_payload_blocks && !kept_payloads_gone && !kept_payloads.blocks.empty()) {
        void* block = kept_payloads.blocks.back();
        kept_payloads.blocks.pop_back();
        return block;
    }
    return ::operator new(size);
}

void payload::operator delete(void* block) noexcept {
    if (keep_payload_blocks && !kept_payloads_gone) {
        auto& kept = kept_payloads.blocks;
        if (kept.capacity() == 0) {
            try {
                kept.reserve(max_kept);
            } catch (...) {
            }
        }
        if (kept.size() < kept.capacity()) {  // within the reserved capacity: no allocation
            kept.push_back(block);
            return;
        }
    }
    ::operator delete(block);
}

void payload_deleter::operator()(payload* p) const noexcept { delete p; }

}  // namespace detail

void parse_options::validate() const {
    if (key_field.empty()) {
        throw error(errc::invalid_config, "parse_options: key_field must not be empty");
    }
    if (max_size == 0) {
        throw error(errc::invalid_config, "parse_options: max_size must be > 0");
    }
    if (max_lead.count() < 0) {
        throw error(errc::invalid_config, "parse_options: max_lead must be >= 0");
    }
    if (max_age && max_age->count() < 0) {
        throw error(errc::invalid_config, "parse_options: max_age must be >= 0");
    }
}

std::int64_t steady_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

namespace {

std::int64_t wall_now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string_view event::raw() const noexcept { return payload_ ? std::string_view{payload_->raw} : std::string_view{}; }

const json_value& event::json() const noexcept {
    static const json_value null_value;
    return payload_ ? payload_->doc : null_value;
}

const json_value* event::field(std::string_view name) const noexcept {
    const auto& root = json();
    if (!root.IsObject()) {
        return nullptr;
    }
    const auto it = root.FindMember(json_value(rapidjson::StringRef(name.data(), name.size())));
    return it == root.MemberEnd() ? nullptr : &it->value;
}

namespace {

using document = detail::payload::document;

// Parses the bytes into `doc`: one JSON object, by the rules of bounded_json.hpp.
result<void> parse_object(document& doc, std::string_view bytes) {
    if (auto problem = detail::parse_bounded_json(doc, bytes, max_event_depth)) {
        return {errc::parse_error, problem.with_offset()};
    }
    if (!doc.IsObject()) {
        return {errc::parse_error, "event is not a JSON object"};
    }
    return {};
}

// The player key member: the only member whose (unescaped) name is the key field. Two
// of them would let a reader that stops at the first and one that keeps the last, or one
// that does not unescape names, disagree on the player.
result<player_key> key_member(const document& doc, const parse_options& options) {
    const std::string_view field = options.key_field;
    const json_value* key = nullptr;
    for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
        if (std::string_view{m->name.GetString(), m->name.GetStringLength()} != field) {
            continue;
        }
        if (key != nullptr) {
            return {errc::ambiguous_key, fmt::format("the player key field \"{}\" appears more than once "
                                                     "(names are compared after unescaping)",
                                                     to_valid_utf8(field))};
        }
        key = &m->value;
    }
    if (key == nullptr || key->IsNull()) {
        return {errc::missing_field, fmt::format("missing player key field \"{}\"", to_valid_utf8(field))};
    }
    if (key->IsInt64()) {
        return player_key{key->GetInt64()};
    }
    if (key->IsString() && key->GetStringLength() > 0) {
        return player_key{std::string{key->GetString(), key->GetStringLength()}};
    }
    return {errc::wrong_type,
            fmt::format("player key field \"{}\" must be an integer or a non-empty string", to_valid_utf8(field))};
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? (b > 0 ? INT64_MAX : INT64_MIN) : sum;
}

// `ts` against the window around the ingest time `now`: [max(0, now - max_age), now + max_lead].
result<void> check_time(std::int64_t ts, std::int64_t now, const parse_options& options) {
    if (ts < 0) {
        return {errc::bad_time, fmt::format("field \"ts\" is {}, before the epoch (ts is ms since 1970-01-01 UTC)", ts)};
    }
    if (ts > max_event_ts) {
        return {errc::bad_time, fmt::format("field \"ts\" is {}, past the largest event time {} (ms since the epoch)",
                                            ts, max_event_ts)};
    }
    const std::int64_t latest = saturating_add(now, options.max_lead.count());
    if (ts > latest) {
        return {errc::bad_time, fmt::format("field \"ts\" is {} ms since the epoch, {} ms after the ingest time {}; "
                                            "events may be at most max_lead = {} ms ahead",
                                            ts, ts - now, now, options.max_lead.count())};
    }
    if (options.max_age) {
        const std::int64_t earliest = saturating_add(now, -options.max_age->count());
        if (ts < earliest) {
            return {errc::bad_time, fmt::format("field \"ts\" is {} ms since the epoch, {} ms before the ingest time {}; "
                                                "events may be at most max_age = {} ms old",
                                                ts, now - ts, now, options.max_age->count())};
        }
    }
    return {};
}

}  // namespace

namespace detail {

std::optional<player_key> parsed_player_key(std::string_view bytes, const parse_options& options) {
    if (bytes.size() > options.max_size) {
        return std::nullopt;
    }
    std::unique_ptr<payload, payload_deleter> pl{new payload(std::string{})};
    if (!parse_object(pl->doc, bytes)) {
        return std::nullopt;
    }
    auto key = key_member(pl->doc, options);
    if (!key) {
        return std::nullopt;
    }
    return std::move(key).value();
}

}  // namespace detail

namespace detail {


event make_timer_event(const player_key& player, const pending_timer& timer, const parse_options& options) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key(options.key_field.data(), static_cast<rapidjson::SizeType>(options.key_field.size()));
    if (const auto id = player.integer()) {
        w.Int64(*id);
    } else {
        w.String(player.text().data(), static_cast<rapidjson::SizeType>(player.text().size()));
    }
    const auto type = std::string{timer_event_prefix} + timer.name;
    w.Key("type");
    w.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
    w.Key("ts");
    w.Int64(timer.due);
    if (!timer.event_id.empty()) {
        w.Key("id");
        w.String(timer.event_id.data(), static_cast<rapidjson::SizeType>(timer.event_id.size()));
    }
    if (!timer.data.empty()) {
        w.Key("data");
        w.RawValue(timer.data.data(), timer.data.size(), rapidjson::kObjectType);
    }
    w.EndObject();
    record rec{std::string{buf.GetString(), buf.GetSize()}, std::string{player.text()}, {}};
    rec.origin.timer = true;
    // Its size and time were checked when it was armed; data a handler stored is valid JSON.
    auto unbounded = options;
    unbounded.max_size = std::numeric_limits<std::size_t>::max();
    auto made = timer_event_access::parse(std::move(rec), unbounded, maker::runtime);
    if (!made) {
        // Stored data that no longer parses (a store written by other means): fire without it.
        auto bare = timer;
        bare.data.clear();
        if (timer.data.empty()) {
            throw error(made.error().code, made.error().reason);
        }
        return make_timer_event(player, bare, options);
    }
    timer_event_access::set_ref(made.value(), timer.ref);
    return std::move(made).value();
}

result<event> timer_event_access::parse(record&& rec, const parse_options& options, maker made_by) {
    if (rec.bytes.size() > options.max_size) {
        return {errc::too_large,
                fmt::format("event is {} bytes, over the limit of {}", rec.bytes.size(), options.max_size)};
    }
    // The payload takes the bytes; on failure they are handed back to the record so the
    // dead-letter record carries them unchanged.
    std::unique_ptr<detail::payload, detail::payload_deleter> pl{new detail::payload(std::move(rec.bytes))};
    auto give_back = [&](errc code, std::string reason) -> result<event> {
        rec.bytes = std::move(pl->raw);
        return {code, std::move(reason)};
    };
    auto give_back_failure = [&](failure why) -> result<event> {
        rec.bytes = std::move(pl->raw);
        return {std::move(why)};
    };

    auto& doc = pl->doc;
    if (auto parsed = parse_object(doc, pl->raw); !parsed) {
        return give_back_failure(parsed.error());
    }

    event ev;
    ev.origin_ = rec.origin;
    ev.ingest_ns_ = steady_now_ns();

    // Player key: the transport key wins (a Kafka message key), else the configured field.
    if (rec.key && !rec.key->empty()) {
        ev.player_ = player_key{std::move(*rec.key)};
    } else {
        auto key = key_member(doc, options);
        if (!key) {
            return give_back_failure(key.error());
        }
        ev.player_ = std::move(key).value();
    }

    const auto type_it = doc.FindMember("type");
    if (type_it == doc.MemberEnd()) {
        return give_back(errc::missing_field, "missing field \"type\"");
    }
    if (!type_it->value.IsString() || type_it->value.GetStringLength() == 0) {
        return give_back(errc::wrong_type, "field \"type\" must be a non-empty string");
    }
    ev.type_.assign(type_it->value.GetString(), type_it->value.GetStringLength());
    if (made_by == maker::source && ev.type_.starts_with(timer_event_prefix)) {
        return give_back(errc::reserved_type,
                         fmt::format("field \"type\" starts with \"{}\", which is reserved for the events of the "
                                     "players' timers, made by the runtime",
                                     timer_event_prefix));
    }

    const std::int64_t now = wall_now_ms();
    const auto ts_it = doc.FindMember("ts");
    if (ts_it == doc.MemberEnd()) {
        ev.ts_ = now;
    } else if (ts_it->value.IsInt64()) {
        ev.ts_ = ts_it->value.GetInt64();
        if (made_by == maker::runtime) {
            // A timer fires at its due time, however far from the wall clock that is.
        } else if (auto in_window = check_time(ev.ts_, now, options); !in_window) {
            return give_back_failure(in_window.error());
        }
    } else {
        return give_back(errc::wrong_type, "field \"ts\" must be an integer (ms since the epoch)");
    }

    const auto id_it = doc.FindMember("id");
    if (id_it != doc.MemberEnd()) {
        if (id_it->value.IsString()) {
            ev.id_.assign(id_it->value.GetString(), id_it->value.GetStringLength());
        } else if (id_it->value.IsInt64()) {
            ev.id_ = std::to_string(id_it->value.GetInt64());
        } else if (!id_it->value.IsNull()) {
            return give_back(errc::wrong_type, "field \"id\" must be a string or an integer");
        }
    }

    ev.payload_ = std::move(pl);
    return ev;
}

}  // namespace detail

result<event> parse_event(record&& rec, const parse_options& options) {
    return detail::timer_event_access::parse(std::move(rec), options, detail::maker::source);
}

result<event> parse_event(std::string_view json, const parse_options& options) {
    record rec{std::string{json}, std::nullopt, {}};
    return parse_event(std::move(rec), options);
}

}  // namespace rtcrm
