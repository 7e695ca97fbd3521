#include <rtcrm/core/error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(errc, converts_to_error_code_in_the_rtcrm_category) {
    const std::error_code ec = rtcrm::errc::schema_violation;
    EXPECT_EQ(ec.category().name(), std::string{"rtcrm"});
    EXPECT_EQ(ec.message(), "event violates its schema");
    EXPECT_EQ(rtcrm::errc_name(rtcrm::errc::schema_violation), "schema_violation");
}

TEST(errc, says_which_errors_are_retriable) {
    EXPECT_TRUE(rtcrm::is_retriable(rtcrm::errc::queue_full));
    EXPECT_TRUE(rtcrm::is_retriable(rtcrm::errc::timeout));
    EXPECT_TRUE(rtcrm::is_retriable(rtcrm::errc::unavailable));
    EXPECT_FALSE(rtcrm::is_retriable(rtcrm::errc::parse_error));
    EXPECT_FALSE(rtcrm::is_retriable(rtcrm::errc::invalid_config));
    EXPECT_TRUE(rtcrm::is_retriable(std::make_error_code(std::errc::timed_out)));
    EXPECT_FALSE(rtcrm::is_retriable(std::make_error_code(std::errc::no_such_file_or_directory)));
}

TEST(error, carries_context_and_code) {
    try {
        throw rtcrm::error(rtcrm::errc::invalid_config, "runtime_options: shards");
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_NE(std::string{e.what()}.find("runtime_options: shards"), std::string::npos);
        EXPECT_FALSE(dynamic_cast<const rtcrm::error&>(e).retriable());
    }
}

}  // namespace
