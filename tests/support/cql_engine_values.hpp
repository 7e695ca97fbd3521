/// @file cql_engine_values.hpp
/// The CQL test peer's column types and value bytes: type names as CQL spells them, the
/// order of values as Cassandra sorts clustering columns, collections, and literals of the
/// statement text turned into the bytes a bound value would have.
#pragma once

#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_engine_syntax.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test::engine {

/// A type without parameters.
cql::data_type simple_type(type_id id);
/// The type as CQL spells it ("text", "map<text, int>"), for messages and system_schema.
std::string type_name(const cql::data_type& t);
/// The type without parameters that a CQL type name means ("varchar" is text), or nullopt.
std::optional<type_id> simple_type_named(std::string_view n);
/// The size of the values of a fixed-size type; 0 for variable-size types.
std::size_t fixed_size(type_id id);

/// The low `n` bytes of `v`, big-endian.
std::string be_bytes(std::uint64_t v, std::size_t n);
/// Up to 8 big-endian bytes as a signed integer (sign-extended from the first byte).
std::int64_t be_signed(std::string_view b);
/// Compares two values of type `t` as Cassandra orders them: <0, 0 or >0.
int compare_values(const cql::data_type& t, std::string_view a, std::string_view b);
/// A set's bytes: its elements sorted by `element`'s order, without repeats.
std::string encode_set(const cql::data_type& element, std::vector<std::string> elements);
/// The bytes of literal `t` as a value of `type` for column `column`; throws invalid when
/// the literal does not fit the type.
cql::value literal(const term& t, const cql::data_type& type, std::string_view column, std::int64_t now_ms);

}  // namespace rtcrm::test::engine
