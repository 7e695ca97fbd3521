// Internal: names the calling thread as top -H, perf and /proc show it, so each of the
// runtime's threads can be told apart ("rtcrm-src0", "rtcrm-shard1", "rtcrm-watchdog").
#pragma once

#include <string>

#include <pthread.h>

namespace rtcrm::detail {

// Linux keeps at most 15 characters.
inline void name_this_thread(const std::string& name) {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace rtcrm::detail
