#include <rtcrm/core/error.hpp>
#include <rtcrm/core/result.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
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

// Every code errc_name knows is in all_errc, so slot tables sized from it miss none.
TEST(errc, all_errc_lists_every_named_code_once) {
    std::set<std::string_view> names;
    for (const auto code : rtcrm::all_errc) {
        const auto name = rtcrm::errc_name(code);
        EXPECT_NE(name, "unknown") << static_cast<int>(code);
        EXPECT_NE(std::error_code{code}.message(), "unknown rtcrm error") << name;
        EXPECT_TRUE(names.insert(name).second) << name;
    }
    for (int value = -256; value < 1024; ++value) {
        const auto code = static_cast<rtcrm::errc>(value);
        if (rtcrm::errc_name(code) == "unknown") {
            continue;
        }
        EXPECT_NE(std::find(rtcrm::all_errc.begin(), rtcrm::all_errc.end(), code), rtcrm::all_errc.end())
            << rtcrm::errc_name(code) << " (" << value << ") is missing from all_errc";
    }
}

TEST(errc, bad_input_codes_for_ambiguous_keys_and_bad_times) {
    EXPECT_EQ(rtcrm::errc_name(rtcrm::errc::ambiguous_key), "ambiguous_key");
    EXPECT_EQ(rtcrm::errc_name(rtcrm::errc::bad_time), "bad_time");
    EXPECT_LT(static_cast<int>(rtcrm::errc::bad_time), static_cast<int>(rtcrm::errc::queue_full));
    EXPECT_FALSE(rtcrm::is_retriable(rtcrm::errc::ambiguous_key));
    EXPECT_FALSE(rtcrm::is_retriable(rtcrm::errc::bad_time));
}
