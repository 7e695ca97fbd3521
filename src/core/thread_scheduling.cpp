#include <rtcrm/core/error.hpp>
#include <rtcrm/core/thread_scheduling.hpp>

#include <fmt/format.h>

#include <cstring>

#include <pthread.h>
#include <sched.h>

namespace rtcrm {

void thread_scheduling::validate() const {
#ifndef __linux__
    if (policy != thread_policy::inherit) {
        throw error(errc::invalid_config, fmt::format("thread scheduling: policy \"{}\" is Linux only",
                                                      thread_policy_name(policy)));
    }
#endif
    if (policy == thread_policy::fifo && (priority < 1 || priority > 99)) {
        throw error(errc::invalid_config,
                    fmt::format("thread scheduling: fifo priority must be 1 to 99, got {}", priority));
    }
}

std::string_view thread_policy_name(thread_policy p) noexcept {
    switch (p) {
        case thread_policy::inherit: return "inherit";
        case thread_policy::batch: return "batch";
        case thread_policy::fifo: return "fifo";
    }
    return "unknown";
}

std::optional<thread_policy> parse_thread_policy(std::string_view name) noexcept {
    for (const auto p : {thread_policy::inherit, thread_policy::batch, thread_policy::fifo}) {
        if (name == thread_policy_name(p)) {
            return p;
        }
    }
    return std::nullopt;
}

void apply_to_this_thread(const thread_scheduling& s) {
    s.validate();
#ifdef __linux__
    if (s.policy == thread_policy::inherit) {
        return;
    }
    sched_param param{};
    int policy = SCHED_BATCH;
    if (s.policy == thread_policy::fifo) {
        policy = SCHED_FIFO;
        param.sched_priority = s.priority;
    }
    if (const int rc = pthread_setschedparam(pthread_self(), policy, &param); rc != 0) {
        const auto why = rc == EPERM && s.policy == thread_policy::fifo
                             ? fmt::format(" (SCHED_FIFO needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {}: "
                                           "`ulimit -r`, or LimitRTPRIO= in a systemd unit)",
                                           s.priority)
                             : std::string{};
        throw error(errc::invalid_config, fmt::format("thread scheduling: cannot apply \"{}\": {}{}",
                                                      thread_policy_name(s.policy), std::strerror(rc), why));
    }
#endif
}

}  // namespace rtcrm
