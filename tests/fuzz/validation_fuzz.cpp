// The JSON-schema bolt. The input is either events (NDJSON), validated against a fixed
// schema, or a schema, a line "--", then events: validation_bolt::load reads the schema
// as `_default.json` of a directory (refusing it is fine: an rtcrm::error naming the
// file), and when it loads, the events are validated against it. Every event is either
// accepted or rejected with errc::schema_violation and a reason.
#include "fuzz_check.hpp"

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

using rtcrm::fuzz::check;
namespace fs = std::filesystem;

constexpr std::string_view fixed_schema = R"({
  "type": "object",
  "required": ["player_id", "type"],
  "properties": {
    "player_id": {"oneOf": [{"type": "integer"}, {"type": "string", "minLength": 1, "maxLength": 64}]},
    "type": {"type": "string", "pattern": "^[a-z_]+$"},
    "ts": {"$ref": "#/definitions/time"},
    "data": {
      "type": "object",
      "properties": {
        "result": {"enum": ["win", "loss", null]},
        "level": {"type": "integer", "minimum": 1, "maximum": 1000, "multipleOf": 1},
        "score": {"type": "number", "exclusiveMinimum": true, "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "uniqueItems": true, "maxItems": 4},
        "pos": {"type": "array", "items": [{"type": "number"}, {"type": "number"}], "additionalItems": false}
      },
      "patternProperties": {"^x_(a|b)+$": {"type": ["number", "boolean"]}},
      "additionalProperties": false,
      "minProperties": 1
    }
  },
  "dependencies": {"id": ["ts"], "data": {"required": ["ts"]}},
  "anyOf": [{"required": ["data"]}, {"not": {"properties": {"type": {"enum": ["fight"]}}}}],
  "definitions": {"time": {"type": "integer", "minimum": 0}}
})";

// A bolt_context that checks what the bolt does with each event.
class checking_context final : public rtcrm::bolt_context {
public:
    void emit(rtcrm::event&, rtcrm::stream, std::string) override { rtcrm::fuzz::fail("validation_bolt emitted an output"); }
    void reject(rtcrm::event&, rtcrm::errc code, std::string_view reason) override {
        check(code == rtcrm::errc::schema_violation, "validation_bolt rejected with another code than schema_violation");
        check(!reason.empty(), "validation_bolt rejected without a reason");
    }
    void drop(rtcrm::event&) override { rtcrm::fuzz::fail("validation_bolt dropped an event"); }
    rtcrm::profile* profile_of(const rtcrm::event&) override { return nullptr; }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return 0; }
    [[nodiscard]] const rtcrm::profile_limits& limits() const noexcept override { return limits_; }

private:
    rtcrm::profile_limits limits_;
};

// The directory `_default.json` is written to, removed at exit.
const fs::path& schema_dir() {
    static const fs::path dir = [] {
        auto d = fs::temp_directory_path() / ("rtcrm_validation_fuzz_" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] { std::error_code ec; fs::remove_all(schema_dir(), ec); });
        return d;
    }();
    return dir;
}

std::unique_ptr<rtcrm::validation_bolt> load_bolt(std::string_view schema) {
    {
        std::ofstream out(schema_dir() / "_default.json", std::ios::binary | std::ios::trunc);
        out.write(schema.data(), static_cast<std::streamsize>(schema.size()));
        check(static_cast<bool>(out), "cannot write the schema file");
    }
    try {
        return std::make_unique<rtcrm::validation_bolt>(
            rtcrm::validation_bolt::load(rtcrm::validation_options{.schema_dir = schema_dir().string()}));
    } catch (const rtcrm::error& e) {
        check(e.code() == rtcrm::errc::invalid_config, "a refused schema threw another code than invalid_config");
        check(std::string_view{e.what()}.find("_default.json") != std::string_view::npos,
              "a refused schema's error does not name the file");
        return nullptr;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = rtcrm::fuzz::text_of(data, size);
    static const auto fixed = load_bolt(fixed_schema);
    check(fixed != nullptr, "the fixed schema does not load");
    std::unique_ptr<rtcrm::validation_bolt> own;
    rtcrm::validation_bolt* bolt = fixed.get();
    if (const auto sep = in.find("\n--\n"); sep != std::string_view::npos) {
        own = load_bolt(in.substr(0, sep));
        if (!own) {
            return 0;
        }
        bolt = own.get();
        in.remove_prefix(sep + 4);
    }
    std::vector<rtcrm::event> batch;
    while (!in.empty()) {
        const auto end = std::min(in.find('\n'), in.size());
        if (auto ev = rtcrm::parse_event(in.substr(0, end), rtcrm::parse_options{})) {
            batch.push_back(std::move(ev).value());
        }
        in.remove_prefix(std::min(end + 1, in.size()));
    }
    checking_context ctx;
    bolt->process(batch, ctx);
    bolt->process(batch, ctx);  // validators are reused: the second pass starts from a reset
    return 0;
}
