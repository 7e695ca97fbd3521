#include <rtcrm/core/profile_codec.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace rtcrm {
namespace {

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
void put_int(std::string& out, std::int64_t v) {
    put_varint(out, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));  // zig-zag
}
void put_string(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s);
}
void put_double(std::string& out, double d) {
    auto bits = std::bit_cast<std::uint64_t>(d);
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>(bits & 0xff));
        bits >>= 8;
    }
}

enum class tag : unsigned char { null = 0, boolean = 1, integer = 2, number = 3, string = 4, json = 5 };

// Reads the encoding, remembering the first failure instead of throwing.
class reader {
public:
    explicit reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

    bool ok() const noexcept { return error_.empty(); }
    const std::string& error() const noexcept { return error_; }
    bool done() const noexcept { return p_ == end_; }

    std::uint64_t varint(const char* what) {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) {
                return fail(what);
            }
            const auto byte = static_cast<unsigned char>(*p_++);
            v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if ((byte & 0x80) == 0) {
                return v;
            }
        }
        return fail(what);
    }
    std::int64_t integer(const char* what) {
        const auto v = varint(what);
        return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
    }
    std::string string(const char* what) {
        const auto n = varint(what);
        if (!ok() || n > static_cast<std::uint64_t>(end_ - p_)) {
            fail(what);
            return {};
        }
        std::string s{p_, static_cast<std::size_t>(n)};
        p_ += n;
        return s;
    }
    double number(const char* what) {
        if (end_ - p_ < 8) {
            fail(what);
            return 0;
        }
        std::uint64_t bits = 0;
        for (int i = 7; i >= 0; --i) {
            bits = (bits << 8) | static_cast<unsigned char>(p_[i]);
        }
        p_ += 8;
        return std::bit_cast<double>(bits);
    }
    unsigned char byte(const char* what) {
        if (p_ >= end_) {
            fail(what);
            return 0;
        }
        return static_cast<unsigned char>(*p_++);
    }
    // A count, bounded by the bytes left (each element takes at least one byte), so a
    // corrupt count cannot make the decoder reserve gigabytes.
    std::size_t count(const char* what) {
        const auto n = varint(what);
        if (n > static_cast<std::uint64_t>(end_ - p_)) {
            fail(what);
            return 0;
        }
        return static_cast<std::size_t>(n);
    }

private:
    std::uint64_t fail(const char* what) {
        if (error_.empty()) {
            error_ = fmt::format("profile encoding: truncated or invalid {}", what);
        }
        p_ = end_;
        return 0;
    }
    const char* p_;
    const char* end_;
    std::string error_;
};

}  // namespace

struct profile_codec_access {
    static void encode(const profile& p, std::string& out) {
        // The lowest version that holds the profile, so a profile keeps the bytes an older
        // codec wrote for it: 1 without timers and conversions, 2 with timers only.
        const bool conversions = std::any_of(p.triggers_.begin(), p.triggers_.end(),
                                             [](const auto& t) { return t.second.converted != 0; });
        const unsigned char version = conversions ? 3 : p.timers_.empty() ? 1 : 2;
        out.push_back(static_cast<char>(version));
        out.push_back(p.key_.integer() ? 1 : 0);
        put_string(out, p.key_.text());
        put_int(out, p.last_event_ts_);
        put_varint(out, p.attributes_.size());
        for (const auto& [name, value] : p.attributes_) {
            put_string(out, name);
            std::visit(
                [&](const auto& v) {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<T, std::monostate>) {
                        out.push_back(static_cast<char>(tag::null));
                    } else if constexpr (std::is_same_v<T, bool>) {
                        out.push_back(static_cast<char>(tag::boolean));
                        out.push_back(v ? 1 : 0);
                    } else if constexpr (std::is_same_v<T, std::int64_t>) {
                        out.push_back(static_cast<char>(tag::integer));
                        put_int(out, v);
                    } else if constexpr (std::is_same_v<T, double>) {
                        out.push_back(static_cast<char>(tag::number));
                        put_double(out, v);
                    } else if constexpr (std::is_same_v<T, std::string>) {
                        out.push_back(static_cast<char>(tag::string));
                        put_string(out, v);
                    } else {
                        out.push_back(static_cast<char>(tag::json));
                        put_string(out, v.text);
                    }
                },
                value);
        }
        put_varint(out, p.counters_.size());
        for (const auto& [name, c] : p.counters_) {
            put_string(out, name);
            put_int(out, c.total);
            put_int(out, c.bucket_ms);
            put_varint(out, c.buckets.size());
            for (const auto& [start, n] : c.buckets) {
                put_int(out, start);
                put_int(out, n);
            }
        }
        const auto recent = p.recent();
        put_varint(out, recent.size());
        for (const auto& e : recent) {
            put_string(out, e.type);
            put_int(out, e.ts);
            put_string(out, e.id);
        }
        put_varint(out, p.triggers_.size());
        for (const auto& [campaign, h] : p.triggers_) {
            put_string(out, campaign);
            put_int(out, h.total);
            put_varint(out, h.recent.size());
            for (auto t : h.recent) {
                put_int(out, t);
            }
        }
        put_varint(out, p.applied_.size());
        for (const auto& a : p.applied_) {
            put_string(out, a.source);
            put_int(out, a.partition);
            put_int(out, a.offset);
        }
        if (version >= 2) {
            put_varint(out, p.timers_.size());
            for (const auto& t : p.timers_) {
                put_string(out, t.name);
                put_int(out, t.due);
                put_string(out, t.event_id);
                put_string(out, t.data);
                put_string(out, t.ref);
            }
        }
        if (version >= 3) {
            const auto count = static_cast<std::size_t>(std::count_if(
                p.triggers_.begin(), p.triggers_.end(), [](const auto& t) { return t.second.converted != 0; }));
            put_varint(out, count);
            for (std::size_t i = 0; i < p.triggers_.size(); ++i) {
                if (p.triggers_[i].second.converted != 0) {
                    put_varint(out, i);
                    put_int(out, p.triggers_[i].second.converted);
                }
            }
        }
    }

    static result<profile> decode(std::string_view bytes) {
        reader r{bytes};
        const auto version = r.byte("version");
        if (r.ok() && (version < 1 || version > profile_codec_version)) {
            return {errc::store_error, fmt::format("profile encoding: unknown version {}", version)};
        }
        // The kind byte is informative: player_key recognises canonical integers from the text.
        (void)r.byte("key kind");
        profile p{player_key{r.string("key")}};
        p.last_event_ts_ = r.integer("last event time");
        for (auto n = r.count("attribute count"); n > 0 && r.ok(); --n) {
            auto name = r.string("attribute name");
            const auto t = static_cast<tag>(r.byte("attribute tag"));
            attribute value;
            switch (t) {
            case tag::null: break;
            case tag::boolean: value = r.byte("boolean") != 0; break;
            case tag::integer: value = r.integer("integer"); break;
            case tag::number: value = r.number("number"); break;
            case tag::string: value = r.string("string"); break;
            case tag::json: value = json_text{r.string("json")}; break;
            default: return {errc::store_error, fmt::format("profile encoding: unknown attribute tag {}", static_cast<int>(t))};
            }
            p.attributes_.emplace_back(std::move(name), std::move(value));
        }
        for (auto n = r.count("counter count"); n > 0 && r.ok(); --n) {
            auto name = r.string("counter name");
            windowed_counter c;
            c.total = r.integer("counter total");
            c.bucket_ms = r.integer("bucket width");
            if (r.ok() && c.bucket_ms <= 0) {
                // Bucket starts are multiples of the width: a profile can hold no other.
                return {errc::store_error, fmt::format("profile encoding: counter \"{}\" has bucket width {} (must be > 0)",
                                                       name, c.bucket_ms)};
            }
            for (auto b = r.count("bucket count"); b > 0 && r.ok(); --b) {
                const auto start = r.integer("bucket start");
                c.buckets.emplace_back(start, r.integer("bucket count"));
            }
            p.counters_.emplace_back(std::move(name), std::move(c));
        }
        for (auto n = r.count("recent count"); n > 0 && r.ok(); --n) {
            recent_event e;
            e.type = r.string("recent type");
            e.ts = r.integer("recent time");
            e.id = r.string("recent id");
            p.recent_.push_back(std::move(e));
        }
        for (auto n = r.count("trigger count"); n > 0 && r.ok(); --n) {
            auto campaign = r.string("trigger campaign");
            trigger_history h;
            h.total = r.integer("trigger total");
            for (auto k = r.count("trigger times"); k > 0 && r.ok(); --k) {
                h.recent.push_back(r.integer("trigger time"));
            }
            p.triggers_.emplace_back(std::move(campaign), std::move(h));
        }
        for (auto n = r.count("applied count"); n > 0 && r.ok(); --n) {
            applied_position a;
            a.source = r.string("applied source");
            a.partition = static_cast<std::int32_t>(r.integer("applied partition"));
            a.offset = r.integer("applied offset");
            p.applied_.push_back(std::move(a));
        }
        if (version >= 2) {
            for (auto n = r.count("timer count"); n > 0 && r.ok(); --n) {
                pending_timer t;
                t.name = r.string("timer name");
                t.due = r.integer("timer due time");
                t.event_id = r.string("timer event id");
                t.data = r.string("timer data");
                t.ref = r.string("timer arming reference");
                p.timers_.push_back(std::move(t));
            }
        }
        if (version >= 3) {
            for (auto n = r.count("conversion count"); n > 0 && r.ok(); --n) {
                const auto index = r.varint("conversion trigger index");
                const auto converted = r.integer("conversion");
                if (r.ok() && index >= p.triggers_.size()) {
                    return {errc::store_error,
                            fmt::format("profile encoding: a conversion names trigger history {} of {}", index,
                                        p.triggers_.size())};
                }
                if (r.ok()) {
                    p.triggers_[index].second.converted = converted;
                }
            }
        }
        if (!r.ok()) {
            return {errc::store_error, r.error()};
        }
        if (!r.done()) {
            return {errc::store_error, "profile encoding: trailing bytes"};
        }
        return p;
    }
};

void encode_profile(const profile& p, std::string& out) { profile_codec_access::encode(p, out); }

result<profile> decode_profile(std::string_view bytes) { return profile_codec_access::decode(bytes); }

}  // namespace rtcrm
