/// @file cql_samples.hpp
/// The CQL messages the codec tests share: one request of every kind and query flag, one
/// response of every kind and shape the client must understand, and what the DataStax
/// Python driver decodes from each of those responses.
#pragma once

#include "cql/cql_protocol.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test {

namespace cql = rtcrm::detail::cql;

/// A bound value from text.
std::string s(std::string_view v);
/// A column of `ks.table`.
cql::column_spec col(std::string ks, std::string table, std::string name, cql::type_id id);
/// An ERROR with `code` and a message naming it.
cql::error_response error_of(cql::error_code code);

/// One request of every kind, with every query flag somewhere.
std::vector<cql::request> sample_requests();
/// One response of every kind and shape the client must understand.
std::vector<cql::response> sample_responses();
/// What the driver decodes from each of sample_responses(), in the same order.
const std::vector<std::string>& driver_view_of_sample_responses();

}  // namespace rtcrm::test
