/// @file validation_bolt.hpp
/// Validates each event against the JSON Schema of its type (RapidJSON's schema validator).
///
/// Schemas are loaded once from a directory: `<type>.json` holds the schema of events of
/// that type (e.g. `fight.json`), and `_default.json`, if present, the schema of any type
/// without its own. An event that violates its schema is dead-lettered with
/// `errc::schema_violation` and a reason naming the failing keyword and the JSON pointers
/// of the instance and schema locations (e.g. `#/data/result violates "enum" at #/properties/data/...`).
/// An event whose type has no schema is accepted, or dead-lettered with
/// `errc::unknown_type` when `reject_unknown_types` is set.
///
/// It is an ingest bolt: add it with `topology::add_ingest_bolt(validation_bolt::factory(opts))`.
/// The schema files are read and checked once and shared by every instance; each
/// instance (one per shard) compiles its own schemas and keeps its own validators, since
/// RapidJSON 1.1.0's compiled schemas are not safe to use from two threads at once.
///
/// Caveats: RapidJSON supports JSON Schema draft-04 (no `$ref` to remote documents).
#pragma once

#include <rtcrm/bolt.hpp>

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
    /// @throws rtcrm::error(invalid_config) naming the file for an unreadable directory, a
    ///         file that is not JSON, or a schema RapidJSON cannot compile.
    static std::shared_ptr<const schema_set> load(const validation_options& options);
    /// A factory whose bolts share one loaded schema set (loads it now; throws as `load`).
    static bolt_factory factory(const validation_options& options);

    explicit validation_bolt(std::shared_ptr<const schema_set> schemas);
    ~validation_bolt() override;

    [[nodiscard]] std::string_view name() const noexcept override { return "validation"; }
    void process(std::span<event> batch, bolt_context& ctx) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
