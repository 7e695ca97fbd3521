/// @file validation_bolt.hpp
/// Validates each event against the JSON Schema of its type (RapidJSON's schema validator).
///
/// Schemas are loaded once from a directory: `<type>.json` holds the schema of events of
/// that type (e.g. `fight.json`), and `_default.json`, if present, the schema of any type
/// without its own. An event that violates its schema is dead-lettered with
/// `errc::schema_violation` and a reason naming the failing keyword and the JSON pointers
/// of the instance and schema locations, e.g.
/// `#/data/result violates "enum" (schema #/properties/data/properties/result)`, and for
/// `required` the first missing member (`# violates "required" (schema #): missing "data"`).
/// An event whose type has no schema is accepted, or dead-lettered with
/// `errc::unknown_type` when `reject_unknown_types` is set.
///
/// It is an ingest bolt: add it with `topology::add_ingest_bolt(validation_bolt::factory(opts))`.
/// The schema files are read and checked once and shared by every instance; each
/// instance (one per shard) compiles its own schemas and keeps its own validators, since
/// RapidJSON 1.1.0's compiled schemas are not safe to use from two threads at once.
///
/// Caveats:
/// - RapidJSON supports JSON Schema draft-04, and `$ref` only to JSON pointers within the
///   same file (`"#/definitions/x"`); other references are refused at load, since
///   RapidJSON would silently treat them as the empty schema.
/// - `pattern` and `patternProperties` use RapidJSON's own small regex engine: literals,
///   `.`, `[...]`, `[^...]`, `*`, `+`, `?`, `{n,m}`, `|`, `(...)`, `^`, `$` and escapes of
///   these; no `\d`, `\w` or `(?:`. A regex it cannot compile is refused at load (RapidJSON
///   would drop it and accept anything there).
/// - Schemas are read once; changing the files needs a new topology.
#pragma once

#include <rtcrm/core/bolt.hpp>

#include <memory>
#include <string>

namespace rtcrm {

/// Options of `validation_bolt`.
struct validation_options {
    std::string schema_dir;             ///< directory of `<type>.json` schemas
    bool reject_unknown_types = false;  ///< dead-letter types without a schema (and no `_default.json`)
};

/// The schemas of a directory, read and checked once; immutable and shareable across threads.
class schema_set;

/// Validates events against per-type JSON Schemas. One instance per thread.
class validation_bolt final : public bolt {
public:
    /// Loads every schema of `options.schema_dir`.
    /// Only files named `*.json` are read; other files are ignored.
    /// @throws rtcrm::error(invalid_config) naming the directory if it is missing or cannot be
    ///         listed, or naming the file for one that cannot be read, is not a JSON object
    ///         (with the parse error and its offset), has a regex RapidJSON cannot compile, or
    ///         a `$ref` that does not resolve within it.
    static std::shared_ptr<const schema_set> load(const validation_options& options);
    /// A factory whose bolts share one loaded schema set (loads it now; throws as `load`).
    static bolt_factory factory(const validation_options& options);

    /// Compiles its own copy of each schema of `schemas` (shared, kept alive by the bolt).
    /// Validators are made on first use of each schema and reused for every later event.
    /// @throws rtcrm::error(invalid_config) if `schemas` is null.
    explicit validation_bolt(std::shared_ptr<const schema_set> schemas);
    ~validation_bolt() override;
    /// Not copyable or movable: a bolt is made by its factory for one shard and stays there.
    validation_bolt(const validation_bolt&) = delete;
    validation_bolt& operator=(const validation_bolt&) = delete;

    /// "validation".
    [[nodiscard]] std::string_view name() const noexcept override { return "validation"; }
    /// Validates each event of `batch`; rejects violations (and unknown types if asked).
    /// Never throws for a bad event. Call from one thread at a time.
    void process(std::span<event> batch, bolt_context& ctx) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
