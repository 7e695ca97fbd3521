#include <rtcrm/core/error.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include "bounded_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/regex.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

namespace rtcrm {

/// The schema documents of a directory, parsed and checked once, by event type. Immutable
/// after `validation_bolt::load`, so any number of bolts on any threads may read it.
///
/// It holds the parsed JSON, not compiled `SchemaDocument`s: RapidJSON 1.1.0 keeps the
/// match state of `pattern` regexes inside the compiled schema, so one compiled schema
/// must not validate on two threads at once. Each bolt compiles its own (see below).
class schema_set {
public:
    using documents = std::map<std::string, rapidjson::Document, std::less<>>;

    schema_set(documents by_type, std::optional<rapidjson::Document> fallback, bool reject_unknown)
        : by_type_(std::move(by_type)), fallback_(std::move(fallback)), reject_unknown_(reject_unknown) {}

    /// The schema of each type that has its own file, sorted by type.
    [[nodiscard]] const documents& by_type() const noexcept { return by_type_; }
    /// `_default.json`, the schema of every other type, if the directory has one.
    [[nodiscard]] const std::optional<rapidjson::Document>& fallback() const noexcept { return fallback_; }
    /// Whether events of a type without a schema are dead-lettered.
    [[nodiscard]] bool reject_unknown() const noexcept { return reject_unknown_; }

private:
    documents by_type_;
    std::optional<rapidjson::Document> fallback_;
    bool reject_unknown_;
};

namespace {

using validator = rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument>;

std::string pointer_text(const rapidjson::Pointer& p) {
    rapidjson::StringBuffer sb;
    p.StringifyUriFragment(sb);
    return {sb.GetString(), sb.GetSize()};
}

// Why RapidJSON 1.1.0's regex parser must not see `pattern`, or "" if it may. Its parser
// asserts (debug builds) or pops an empty stack (release builds) on empty groups, empty
// alternatives, unbalanced parentheses and quantifiers with nothing to repeat, so those are
// refused here, before it runs. Escapes and character classes are skipped over.
// Bounds on `{n,m}` counts, for the automaton RapidJSON builds from them.
constexpr std::uint64_t max_regex_repeat = 1000;     // one count
constexpr std::uint64_t max_regex_repeats = 100000;  // every count of a pattern multiplied together

std::string regex_shape_problem(std::string_view pattern) {
    int depth = 0;
    std::uint64_t repeats = 1;  // the product of the counts so far
    // Whether the previous token can be repeated or closes an alternative (an atom, a
    // group or a quantifier), as opposed to the start, `(` or `|`.
    bool after_atom = false;
    // Whether the previous token is a quantifier: RapidJSON's matcher recurses without end
    // on a quantified quantifier (`a**`, `a+*`, `a{1,3}*`), so those are refused too.
    bool after_quantifier = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        const bool quantifier = c == '?' || c == '*' || c == '+' || c == '{';
        if (quantifier && after_quantifier) {
            return fmt::format("'{}' repeats a quantifier (RapidJSON's regex engine cannot run that; use one)", c);
        }
        if (c != '^' && c != '$') {
            after_quantifier = quantifier;
        }
        switch (c) {
        case '\\':
            ++i;  // the escaped character is an atom whatever it is
            after_atom = true;
            break;
        case '[':
            // RapidJSON ends a class at the first unescaped `]`.
            for (++i; i < pattern.size() && pattern[i] != ']'; ++i) {
                if (pattern[i] == '\\') {
                    ++i;
                }
            }
            after_atom = true;
            break;
        case '^':
        case '$':
            // RapidJSON reads anchors as flags, not atoms: "(^)" is an empty group to it.
            break;
        case '(':
            ++depth;
            after_atom = false;
            break;
        case ')':
            if (depth == 0) {
                return "unbalanced ')'";
            }
            if (!after_atom) {
                return "an empty group or alternative";
            }
            --depth;
            break;
        case '|':
            if (!after_atom) {
                return "an empty alternative";
            }
            after_atom = false;
            break;
        case '?':
        case '*':
        case '+':
        case '{':
            if (!after_atom) {
                return fmt::format("'{}' with nothing to repeat", c);
            }
            if (c == '{') {
                const auto close = pattern.find('}', i);
                const auto end = close == std::string_view::npos ? pattern.size() : close;
                // RapidJSON compiles a{n,m} into m copies of `a`: a large count (or counts
                // nested in each other) makes a huge automaton before any event is seen.
                std::uint64_t number = 0;
                for (std::size_t k = i + 1; k < end; ++k) {
                    if (pattern[k] >= '0' && pattern[k] <= '9') {
                        number = std::min<std::uint64_t>(number * 10 + static_cast<unsigned>(pattern[k] - '0'),
                                                         max_regex_repeat + 1);
                    } else {
                        number = 0;
                    }
                    if (number > max_regex_repeat) {
                        return fmt::format("a count above {} in '{{...}}' (RapidJSON's regex engine copies the "
                                           "repeated part that many times)",
                                           max_regex_repeat);
                    }
                    if (k + 1 == end || pattern[k + 1] < '0' || pattern[k + 1] > '9') {
                        repeats = std::min<std::uint64_t>(repeats * std::max<std::uint64_t>(number, 1),
                                                          max_regex_repeats + 1);
                    }
                }
                if (repeats > max_regex_repeats) {
                    return fmt::format("counts in '{{...}}' that multiply past {} (RapidJSON's regex engine "
                                       "copies each repeated part that many times)",
                                       max_regex_repeats);
                }
                i = end;
            }
            break;
        default: after_atom = true; break;
        }
    }
    if (depth != 0) {
        return "unbalanced '('";
    }
    // An empty pattern matches anything, as RapidJSON (which drops it) does too.
    if (!pattern.empty() && !after_atom) {
        return "nothing to match at the end";
    }
    return {};
}

// Refuses a regex that RapidJSON 1.1.0 would drop silently (it ignores a `pattern` it
// cannot parse, so the schema would accept anything there), e.g. `\d`, `\w`, `(?:`.
void check_pattern(const std::string& file, const std::string& where, std::string_view pattern) {
    // RapidJSON reads the pattern as a C string: it ends at the first NUL.
    pattern = pattern.substr(0, pattern.find('\0'));
    auto problem = regex_shape_problem(pattern);
    if (problem.empty()) {
        const rapidjson::internal::Regex re{std::string{pattern}.c_str()};
        if (!re.IsValid()) {
            problem =
                "not supported by RapidJSON's regex engine (it knows [...], ., *, +, ?, {n,m}, |, "
                "(...), ^, $ and escapes of these; use [0-9] for \\d)";
        }
    }
    if (!problem.empty()) {
        throw error(errc::invalid_config,
                    fmt::format("validation_bolt: {}: regex \"{}\" at {}: {}", file, pattern, where, problem));
    }
}

// RapidJSON 1.1.0 follows a `$ref` whose target is itself a `$ref` (whatever else the
// target holds) without noticing a loop, and overflows the stack on one, even on a loop
// nothing else refers to. A reference is refused when following it comes back to a
// reference already followed; `{"properties":{"child":{"$ref":"#"}}}` is fine, since the
// root holds no `$ref` of its own.
void check_ref_chain(const std::string& file, const rapidjson::Document& root, std::string_view ref,
                     const std::string& at) {
    std::vector<std::string_view> followed{ref};
    const rapidjson::Value* target = rapidjson::Pointer{ref.data(), ref.size()}.Get(root);
    while (target != nullptr && target->IsObject()) {
        const auto next = target->FindMember("$ref");
        if (next == target->MemberEnd() || !next->value.IsString()) {
            return;
        }
        const std::string_view hop{next->value.GetString(), next->value.GetStringLength()};
        if (std::find(followed.begin(), followed.end(), hop) != followed.end()) {
            throw error(errc::invalid_config,
                        fmt::format("validation_bolt: {}: \"$ref\": \"{}\" at {} refers back to itself through "
                                    "\"{}\" (a loop of references that RapidJSON cannot resolve)",
                                    file, ref, at, fmt::join(followed, "\" -> \"")));
        }
        followed.push_back(hop);
        const rapidjson::Pointer pointer{hop.data(), hop.size()};
        // A reference that does not resolve gets its own message where it is written.
        target = hop.starts_with('#') && pointer.IsValid() ? pointer.Get(root) : nullptr;
    }
}

// Walks a schema for what RapidJSON 1.1.0 would accept without complaint yet not enforce:
// regexes it cannot compile (see check_pattern) and `$ref`s it cannot resolve, which it
// treats as the empty schema. Only references within the file are resolvable here: the
// bolt gives RapidJSON no provider for remote documents.
// `keywords` is false for the members of `properties` and the like, whose names are the
// user's (a property may be called "pattern") and whose values are schemas.
void check_schema(const std::string& file, const rapidjson::Document& root, const rapidjson::Value& v,
                  const std::string& where, bool keywords = true) {
    if (v.IsArray()) {
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            check_schema(file, root, v[i], fmt::format("{}/{}", where, i));
        }
        return;
    }
    if (!v.IsObject()) {
        return;
    }
    for (const auto& m : v.GetObject()) {
        const std::string_view key{m.name.GetString(), m.name.GetStringLength()};
        auto at = where + '/';
        for (const char c : key) {
            at += c == '~' ? std::string_view{"~0"} : c == '/' ? std::string_view{"~1"} : std::string_view{&c, 1};
        }
        if (!keywords) {
            check_schema(file, root, m.value, at);
            continue;
        }
        if (key == "enum" || key == "default") {
            continue;  // instance data, not schemas: a "pattern" in there means nothing
        }
        if (key == "pattern" && m.value.IsString()) {
            check_pattern(file, at, {m.value.GetString(), m.value.GetStringLength()});
        } else if (key == "patternProperties" && m.value.IsObject()) {
            for (const auto& p : m.value.GetObject()) {
                check_pattern(file, at, {p.name.GetString(), p.name.GetStringLength()});
            }
        } else if (key == "$ref" && m.value.IsString()) {
            const std::string_view ref{m.value.GetString(), m.value.GetStringLength()};
            const rapidjson::Pointer target{m.value.GetString(), m.value.GetStringLength()};
            if (!ref.starts_with('#') || !target.IsValid() || target.Get(root) == nullptr) {
                throw error(errc::invalid_config,
                            fmt::format("validation_bolt: {}: \"$ref\": \"{}\" at {} does not resolve within the "
                                        "file (only local JSON-pointer references are supported)",
                                        file, ref, at));
            }
            check_ref_chain(file, root, ref, at);
        }
        const bool named_schemas =
            key == "properties" || key == "patternProperties" || key == "definitions" || key == "dependencies";
        check_schema(file, root, m.value, at, !named_schemas);
    }
}

rapidjson::Document read_schema(const std::filesystem::path& path) {
    const auto file = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: cannot open {}", file));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: cannot read {}", file));
    }
    const auto json = std::move(text).str();
    rapidjson::Document doc;
    if (const auto problem = detail::parse_bounded_json(doc, json, detail::max_nested_json_depth)) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: {}: {}", file, problem.with_offset()));
    }
    if (!doc.IsObject()) {
        throw error(errc::invalid_config, fmt::format("validation_bolt: {}: a schema must be a JSON object", file));
    }
    check_schema(file, doc, doc, "#");
    return doc;
}

// The reason of a dead letter: the keyword, where in the event and where in the schema; for
// `required`, also the first missing member (RapidJSON 1.1.0 does not say which).
std::string violation_reason(const validator& v, const json_value& instance, const rapidjson::Document& schema) {
    const auto instance_at = v.GetInvalidDocumentPointer();
    const auto schema_at = v.GetInvalidSchemaPointer();
    const std::string_view keyword = v.GetInvalidSchemaKeyword();
    auto reason =
        fmt::format("{} violates \"{}\" (schema {})", pointer_text(instance_at), keyword, pointer_text(schema_at));
    if (keyword == "required") {
        const auto* object = instance_at.Get(instance);
        const auto* rule = schema_at.Get(schema);
        if (object != nullptr && object->IsObject() && rule != nullptr && rule->IsObject()) {
            const auto required = rule->FindMember("required");
            if (required != rule->MemberEnd() && required->value.IsArray()) {
                for (const auto& name : required->value.GetArray()) {
                    if (name.IsString() && !object->HasMember(name)) {
                        reason +=
                            fmt::format(": missing \"{}\"", std::string_view{name.GetString(), name.GetStringLength()});
                        break;
                    }
                }
            }
        }
    }
    return reason;
}

}  // namespace

std::shared_ptr<const schema_set> validation_bolt::load(const validation_options& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (options.schema_dir.empty() || !fs::is_directory(options.schema_dir, ec)) {
        throw error(
            errc::invalid_config,
            fmt::format("validation_bolt: schema directory '{}' is not a readable directory", options.schema_dir));
    }
    schema_set::documents by_type;
    std::optional<rapidjson::Document> fallback;
    fs::directory_iterator it{options.schema_dir, ec};
    for (; !ec && it != fs::directory_iterator{}; it.increment(ec)) {
        const auto& entry = *it;
        std::error_code type_ec;
        if (entry.path().extension() != ".json" || !entry.is_regular_file(type_ec)) {
            continue;
        }
        auto doc = read_schema(entry.path());
        const auto type = entry.path().stem().string();
        if (type == "_default") {
            fallback.emplace(std::move(doc));
        } else {
            by_type.emplace(type, std::move(doc));
        }
    }
    if (ec) {
        throw error(errc::invalid_config,
                    fmt::format("validation_bolt: cannot list {}: {}", options.schema_dir, ec.message()));
    }
    return std::make_shared<const schema_set>(std::move(by_type), std::move(fallback), options.reject_unknown_types);
}

bolt_factory validation_bolt::factory(const validation_options& options) {
    auto schemas = load(options);
    return [schemas](const bolt_placement&) { return std::make_unique<validation_bolt>(schemas); };
}

// This bolt's own compiled schemas (see schema_set), each with one validator, made on
// first use and reset before each event: building a validator costs far more than
// validating one small event.
struct validation_bolt::impl {
    struct compiled {
        std::string_view type;              // a key of schemas->by_type(), which outlives this
        const rapidjson::Document* source;  // for naming missing members in reasons
        std::unique_ptr<rapidjson::SchemaDocument> schema;
        std::unique_ptr<validator> checker;  // null until first use
    };

    std::shared_ptr<const schema_set> schemas;
    std::vector<compiled> by_type;  // sorted by type, as schema_set keeps them
    std::optional<compiled> fallback;

    static compiled compile(std::string_view type, const rapidjson::Document& doc) {
        return {type, &doc, std::make_unique<rapidjson::SchemaDocument>(doc), nullptr};
    }

    // A sorted vector and string_view comparisons: no allocation per event.
    compiled* schema_for(std::string_view type) {
        const auto it = std::lower_bound(by_type.begin(), by_type.end(), type,
                                         [](const compiled& c, std::string_view t) { return c.type < t; });
        if (it != by_type.end() && it->type == type) {
            return &*it;
        }
        return fallback ? &*fallback : nullptr;
    }

    static validator& validator_for(compiled& c) {
        if (!c.checker) {
            c.checker = std::make_unique<validator>(*c.schema);
        }
        c.checker->Reset();
        return *c.checker;
    }
};

validation_bolt::validation_bolt(std::shared_ptr<const schema_set> schemas) : impl_(std::make_unique<impl>()) {
    if (!schemas) {
        throw error(errc::invalid_config, "validation_bolt: no schemas");
    }
    impl_->schemas = std::move(schemas);
    impl_->by_type.reserve(impl_->schemas->by_type().size());
    for (const auto& [type, doc] : impl_->schemas->by_type()) {
        impl_->by_type.push_back(impl::compile(type, doc));
    }
    if (const auto& fallback = impl_->schemas->fallback()) {
        impl_->fallback.emplace(impl::compile("_default", *fallback));
    }
}

validation_bolt::~validation_bolt() = default;

void validation_bolt::process(std::span<event> batch, bolt_context& ctx) {
    for (auto& ev : batch) {
        auto* schema = impl_->schema_for(ev.type());
        if (schema == nullptr) {
            if (impl_->schemas->reject_unknown()) {
                ctx.reject(ev, errc::unknown_type, fmt::format("no schema for event type \"{}\"", ev.type()));
            }
            continue;
        }
        auto& v = impl::validator_for(*schema);
        if (!ev.json().Accept(v)) {
            ctx.reject(ev, errc::schema_violation, violation_reason(v, ev.json(), *schema->source));
        }
    }
}

}  // namespace rtcrm
