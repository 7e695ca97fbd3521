#include <rtcrm/core/error.hpp>
#include <rtcrm/core/result.hpp>

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

TEST(result, holds_a_value_or_a_failure_with_its_reason) {
    rtcrm::result<int> good{7};
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(good.value(), 7);

    rtcrm::result<int> bad{rtcrm::errc::store_error, "commit: No space left on device"};
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, rtcrm::errc::store_error);
    EXPECT_EQ(bad.error().reason, "commit: No space left on device");
}

TEST(result, of_void_is_a_success_or_a_failure) {
    const rtcrm::result<void> done;
    EXPECT_TRUE(done.ok());
    EXPECT_TRUE(static_cast<bool>(done));

    const rtcrm::result<void> failed{rtcrm::failure{make_error_code(rtcrm::errc::unavailable), "no replica"}};
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, rtcrm::errc::unavailable);
    EXPECT_EQ(failed.error().reason, "no replica");
}
