#include <rtcrm/core/error.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/thread_scheduling.hpp>

#include "support/test_components.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using rtcrm::thread_policy;
using rtcrm::thread_scheduling;

// The calling thread's policy and priority, as the kernel reports them.
std::pair<int, int> this_thread_policy() {
    sched_param param{};
    int policy = -1;
    EXPECT_EQ(pthread_getschedparam(pthread_self(), &policy, &param), 0);
    return {policy, param.sched_priority};
}

// Runs `fn` on a fresh thread (so the test thread keeps its own scheduling).
template <typename Fn>
void on_a_new_thread(Fn fn) {
    std::thread(fn).join();
}

TEST(thread_scheduling, policy_names_read_back_as_the_same_policy) {
    for (const auto p : {thread_policy::inherit, thread_policy::batch, thread_policy::fifo}) {
        EXPECT_EQ(rtcrm::parse_thread_policy(rtcrm::thread_policy_name(p)), p);
    }
    EXPECT_EQ(rtcrm::parse_thread_policy("FIFO"), std::nullopt);
    EXPECT_EQ(rtcrm::parse_thread_policy("rr"), std::nullopt);
    EXPECT_EQ(rtcrm::parse_thread_policy(""), std::nullopt);
}

TEST(thread_scheduling, a_fifo_priority_outside_1_to_99_is_refused) {
    for (const int bad : {0, -1, 100}) {
        const thread_scheduling s{.policy = thread_policy::fifo, .priority = bad};
        EXPECT_THROW(s.validate(), rtcrm::error) << bad;
        on_a_new_thread([&] { EXPECT_THROW(rtcrm::apply_to_this_thread(s), rtcrm::error) << bad; });
    }
    EXPECT_NO_THROW((thread_scheduling{.policy = thread_policy::fifo, .priority = 99}.validate()));
    // The priority means nothing to the other policies.
    EXPECT_NO_THROW((thread_scheduling{.policy = thread_policy::batch, .priority = 0}.validate()));
}

TEST(thread_scheduling, inherit_leaves_the_thread_as_it_was) {
    on_a_new_thread([] {
        const auto before = this_thread_policy();
        rtcrm::apply_to_this_thread({});
        EXPECT_EQ(this_thread_policy(), before);
    });
}

TEST(thread_scheduling, batch_is_applied_to_the_calling_thread_only) {
    const auto test_thread = this_thread_policy();
    on_a_new_thread([] {
        rtcrm::apply_to_this_thread({.policy = thread_policy::batch});
        EXPECT_EQ(this_thread_policy().first, SCHED_BATCH);
    });
    EXPECT_EQ(this_thread_policy(), test_thread);
}

TEST(thread_scheduling, fifo_is_applied_or_refused_naming_the_privilege_it_needs) {
    // Whether this process may use SCHED_FIFO depends on the machine (CAP_SYS_NICE,
    // RLIMIT_RTPRIO); either outcome is checked.
    on_a_new_thread([] {
        try {
            rtcrm::apply_to_this_thread({.policy = thread_policy::fifo, .priority = 3});
            EXPECT_EQ(this_thread_policy(), std::make_pair(SCHED_FIFO, 3));
        } catch (const rtcrm::error& e) {
            EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
            EXPECT_NE(std::string(e.what()).find("CAP_SYS_NICE"), std::string::npos) << e.what();
        }
    });
}

// Records the policy of the thread it runs on.
class policy_probe final : public rtcrm::bolt {
public:
    explicit policy_probe(std::atomic<int>& seen) : seen_(&seen) {}
    std::string_view name() const noexcept override { return "policy_probe"; }
    void process(std::span<rtcrm::event>, rtcrm::bolt_context&) override { seen_->store(this_thread_policy().first); }

private:
    std::atomic<int>* seen_;
};

TEST(thread_scheduling, the_runtime_runs_its_shards_with_the_policy_asked_for) {
    std::atomic<int> seen{-1};
    rtcrm::topology t;
    t.add_shard_bolt([&](const rtcrm::bolt_placement&) { return std::make_unique<policy_probe>(seen); })
        .with_options({.shards = 1, .submit_capacity = 64, .shard_scheduling = {.policy = thread_policy::batch}});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    ASSERT_EQ(rt.submit(rtcrm::testing::fight_json(1, 1), 10s), rtcrm::submit_status::accepted);
    for (int i = 0; i < 1000 && seen.load() == -1; ++i) {
        std::this_thread::sleep_for(5ms);
    }
    rt.stop();
    EXPECT_EQ(seen.load(), SCHED_BATCH);
    EXPECT_NE(this_thread_policy().first, SCHED_BATCH);  // start() left its caller alone
}

TEST(thread_scheduling, a_topology_refuses_a_bad_fifo_priority_for_its_shards) {
    rtcrm::topology t;
    try {
        t.with_options(
            {.shards = 1, .submit_capacity = 64, .shard_scheduling = {.policy = thread_policy::fifo, .priority = 0}});
        FAIL() << "accepted";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string(e.what()).find("shard_scheduling.priority"), std::string::npos) << e.what();
    }
}

}  // namespace
