// Internal: the parts a topology gets when its builder left them unset: a memory_store,
// and a dead-letter sink writing NDJSON to standard error, so that nothing is lost
// silently (topology.hpp documents both). The runtime and the test driver apply them
// before they build their stages; which built-ins stand in is the topology's choice, so
// the pipeline that runs it names no plug-in.
#pragma once

#include <rtcrm/core/topology.hpp>

namespace rtcrm::detail {

// Sets what `t` lacks (a store, a dead-letter sink) and returns `t`.
topology& with_defaults(topology& t);

}  // namespace rtcrm::detail
