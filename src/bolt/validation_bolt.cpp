#include <rtcrm/bolt/validation_bolt.hpp>
#include <rtcrm/error.hpp>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace rtcrm {

// The schemas of a directory, parsed and checked once, by event type. Immutable.
//
// Each bolt compiles its own SchemaDocuments from these: RapidJSON 1.1.0 keeps the match
// state of `pattern` regexes inside the schema document, so one compiled schema must not
// validate on two threads at once.
class schema_set {
public:
    std::map<std::string, rapidjson::Document, std::less<>> by_type;
    std::optional<rapidjson::Document> fallback;  // _default.json
    bool reject_unknown = false;
};

namespace {

using validator = rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument>;

std::string pointer_text(const rapidjson::Pointer& p) {
    rapidjson::StringBuffer sb;
    p.StringifyUriFragment(sb);
    return {sb.GetString(), sb.GetSize()};
}

}  // namespace

std::shared_ptr<const schema_set> validation_bolt::load(const validation_options& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (options.schema_dir.empty() || !fs::is_directory(options.schema_dir, ec)) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: schema directory '{}' is not a readable directory",
                                                      options.schema_dir));
    }
    auto set = std::make_shared<schema_set>();
    set->reject_unknown = options.reject_unknown_types;
    for (const auto& entry : fs::directory_iterator(options.schema_dir, ec)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".json") {
            continue;
        }
        const auto file = entry.path().string();
        std::ifstream in(entry.path(), std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        if (!in) {
            throw error(errc::invalid_config, fmt::format("validation_bolt: cannot read {}", file));
        }
        rapidjson::Document doc;
        const auto json = text.str();
        doc.Parse(json.c_str(), json.size());
        if (doc.HasParseError()) {
            throw error(errc::invalid_config, fmt::format("validation_bolt: {}: {} at offset {}", file,
                                                          rapidjson::GetParseError_En(doc.GetParseError()), doc.GetErrorOffset()));
        }
        if (!doc.IsObject()) {
            throw error(errc::invalid_config, fmt::format("validation_bolt: {}: a schema must be a JSON object", file));
        }
        rapidjson::SchemaDocument compiles{doc};  // compiling once here surfaces errors at load
        const auto type = entry.path().stem().string();
        if (type == "_default") {
            set->fallback.emplace(std::move(doc));
        } else {
            set->by_type.emplace(type, std::move(doc));
        }
    }
    if (ec) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: cannot list {}: {}", options.schema_dir, ec.message()));
    }
    return set;
}

bolt_factory validation_bolt::factory(const validation_options& options) {
    auto schemas = load(options);
    return [schemas](const bolt_placement&) { return std::make_unique<validation_bolt>(schemas); };
}

// This bolt's own compiled schemas (see schema_set), and one validator per schema, made
// on first use and reset before each event: building a validator costs far more than
// validating one small event.
struct validation_bolt::impl {
    std::shared_ptr<const schema_set> schemas;
    std::map<std::string, std::unique_ptr<rapidjson::SchemaDocument>, std::less<>> compiled;
    std::unique_ptr<rapidjson::SchemaDocument> fallback;
    std::map<const rapidjson::SchemaDocument*, std::unique_ptr<validator>> validators;
    std::string last_type;  // one-entry cache: consecutive events often share a type
    const rapidjson::SchemaDocument* last_schema = nullptr;

    validator& validator_for(const rapidjson::SchemaDocument* schema) {
        auto& v = validators[schema];
        if (!v) {
            v = std::make_unique<validator>(*schema);
        }
        v->Reset();
        return *v;
    }

    const rapidjson::SchemaDocument* schema_for(std::string_view type) {
        if (last_schema != nullptr && type == last_type) {
            return last_schema;
        }
        const auto it = compiled.find(type);
        const auto* schema = it != compiled.end() ? it->second.get() : fallback.get();
        last_type.assign(type);
        last_schema = schema;
        return schema;
    }
};

validation_bolt::validation_bolt(std::shared_ptr<const schema_set> schemas) : impl_(std::make_unique<impl>()) {
    if (!schemas) {
        throw error(errc::invalid_config, "validation_bolt: no schemas");
    }
    impl_->schemas = std::move(schemas);
    for (const auto& [type, doc] : impl_->schemas->by_type) {
        impl_->compiled.emplace(type, std::make_unique<rapidjson::SchemaDocument>(doc));
    }
    if (impl_->schemas->fallback) {
        impl_->fallback = std::make_unique<rapidjson::SchemaDocument>(*impl_->schemas->fallback);
    }
}

validation_bolt::~validation_bolt() = default;

void validation_bolt::process(std::span<event> batch, bolt_context& ctx) {
    for (auto& ev : batch) {
        const auto* schema = impl_->schema_for(ev.type());
        if (schema == nullptr) {
            if (impl_->schemas->reject_unknown) {
                ctx.reject(ev, errc::unknown_type, fmt::format("no schema for event type \"{}\"", ev.type()));
            }
            continue;
        }
        auto& v = impl_->validator_for(schema);
        if (!ev.json().Accept(v)) {
            ctx.reject(ev, errc::schema_violation,
                       fmt::format("{} violates \"{}\" (schema {})", pointer_text(v.GetInvalidDocumentPointer()),
                                   v.GetInvalidSchemaKeyword(), pointer_text(v.GetInvalidSchemaPointer())));
        }
    }
}

}  // namespace rtcrm
