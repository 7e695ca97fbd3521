#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event_builder.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cmath>

namespace rtcrm {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(json_writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_value(json_writer& w, const event_builder::value& v) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
                w.Null();
            } else if constexpr (std::is_same_v<T, bool>) {
                w.Bool(x);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                w.Int64(x);
            } else if constexpr (std::is_same_v<T, double>) {
                if (std::isfinite(x)) {
                    w.Double(x);
                } else {
                    w.Null();  // JSON has no NaN or infinity
                }
            } else {
                write_string(w, x);
            }
        },
        v);
}

}  // namespace

event_builder& event_builder::player(std::int64_t id) {
    player_ = id;
    return *this;
}

event_builder& event_builder::player(std::string_view id) {
    player_ = std::string{id};
    return *this;
}

event_builder& event_builder::type(std::string_view type) {
    type_ = type;
    return *this;
}

event_builder& event_builder::ts(std::int64_t ms) {
    ts_ = ms;
    return *this;
}

event_builder& event_builder::id(std::string_view id) {
    id_ = id;
    return *this;
}

record event_builder::build() {
    if (std::holds_alternative<std::monostate>(player_)) {
        throw error(errc::invalid_config, "event_builder: no player");
    }
    if (type_.empty()) {
        throw error(errc::invalid_config, "event_builder: no type");
    }
    if (ts_ < 0) {
        ts_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    rapidjson::StringBuffer buffer;
    json_writer w(buffer);
    record rec;
    w.StartObject();
    write_string(w, key_field_);
    if (const auto* n = std::get_if<std::int64_t>(&player_)) {
        w.Int64(*n);
        rec.key = std::to_string(*n);
    } else {
        const auto& text = std::get<std::string>(player_);
        write_string(w, text);
        rec.key = text;
    }
    w.Key("type");
    write_string(w, type_);
    w.Key("ts");
    w.Int64(ts_);
    if (!id_.empty()) {
        w.Key("id");
        write_string(w, id_);
    }
    for (const auto& [name, v] : meta_) {
        write_string(w, name);
        write_value(w, v);
    }
    if (!data_.empty()) {
        w.Key("data");
        w.StartObject();
        for (const auto& [name, v] : data_) {
            write_string(w, name);
            write_value(w, v);
        }
        w.EndObject();
    }
    w.EndObject();
    rec.bytes.assign(buffer.GetString(), buffer.GetSize());
    // Ready for the next event, keeping the vectors' capacity (a host builds many).
    player_ = std::monostate{};
    type_.clear();
    id_.clear();
    ts_ = -1;
    meta_.clear();
    data_.clear();
    return rec;
}

}  // namespace rtcrm
