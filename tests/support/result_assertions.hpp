// GoogleTest predicates over rtcrm::result: a failed check prints the failure's reason.
#pragma once

#include <rtcrm/core/result.hpp>

#include <gtest/gtest.h>

namespace rtcrm::testing {

// ASSERT_TRUE(succeeded(store.write(batch))): on failure, the reason and the code.
template <typename T>
::testing::AssertionResult succeeded(const result<T>& r) {
    if (r) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << r.error().reason << " (" << r.error().code.category().name() << " "
                                         << r.error().code.value() << ")";
}

}  // namespace rtcrm::testing
