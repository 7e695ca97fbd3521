#include <rtcrm/core/event.hpp>

#include <rapidjson/error/en.h>

#include <fmt/format.h>
#include <chrono>
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

result<event> parse_event(record&& rec, const parse_options& options) {
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

    auto& doc = pl->doc;
    doc.Parse(pl->raw.data(), pl->raw.size());
    if (doc.HasParseError()) {
        return give_back(
            errc::parse_error,
            fmt::format("{} at offset {}", rapidjson::GetParseError_En(doc.GetParseError()), doc.GetErrorOffset()));
    }
    if (!doc.IsObject()) {
        return give_back(errc::parse_error, "event is not a JSON object");
    }

    event ev;
    ev.origin_ = rec.origin;
    ev.ingest_ns_ = steady_now_ns();

    // Player key: the transport key wins (a Kafka message key), else the configured field.
    if (rec.key && !rec.key->empty()) {
        ev.player_ = player_key{std::move(*rec.key)};
    } else {
        const auto it = doc.FindMember(rapidjson::StringRef(options.key_field.data(), options.key_field.size()));
        if (it == doc.MemberEnd() || it->value.IsNull()) {
            return give_back(errc::missing_field, fmt::format("missing player key field \"{}\"", options.key_field));
        }
        const auto& key = it->value;
        if (key.IsInt64()) {
            ev.player_ = player_key{key.GetInt64()};
        } else if (key.IsString() && key.GetStringLength() > 0) {
            ev.player_ = player_key{std::string{key.GetString(), key.GetStringLength()}};
        } else {
            return give_back(
                errc::wrong_type,
                fmt::format("player key field \"{}\" must be an integer or a non-empty string", options.key_field));
        }
    }

    const auto type_it = doc.FindMember("type");
    if (type_it == doc.MemberEnd()) {
        return give_back(errc::missing_field, "missing field \"type\"");
    }
    if (!type_it->value.IsString() || type_it->value.GetStringLength() == 0) {
        return give_back(errc::wrong_type, "field \"type\" must be a non-empty string");
    }
    ev.type_.assign(type_it->value.GetString(), type_it->value.GetStringLength());

    const auto ts_it = doc.FindMember("ts");
    if (ts_it == doc.MemberEnd()) {
        ev.ts_ = wall_now_ms();
    } else if (ts_it->value.IsInt64()) {
        ev.ts_ = ts_it->value.GetInt64();
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

result<event> parse_event(std::string_view json, const parse_options& options) {
    record rec{std::string{json}, std::nullopt, {}};
    return parse_event(std::move(rec), options);
}

}  // namespace rtcrm
