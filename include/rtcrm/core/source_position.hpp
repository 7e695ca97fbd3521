/// @file source_position.hpp
/// Where a source stands: the highest offset of one of its partitions up to which every
/// event is fully processed. Sources report these (`source::safe_positions`) and commit
/// them; durable stores keep them with the profiles that include them
/// (`profile_store::write`), so a restart resumes where the durable state ends.
#pragma once

#include <cstdint>
#include <string>

namespace rtcrm {

/// A committed position of one source partition: every event at or below `offset` is
/// fully processed. A value type.
struct source_position {
    std::string source;          ///< the source's name (stable across restarts)
    std::int32_t partition = 0;  ///< partition within the source
    std::int64_t offset = -1;    ///< highest fully processed offset
    friend bool operator==(const source_position&, const source_position&) = default;
};

}  // namespace rtcrm
