// Internal: the frame structure of a zstd file, walked without decompressing, to find
// where its complete frames end (archive day files are cut there when opened again).
#pragma once

#include <cstdint>

namespace rtcrm::detail::archive {

// The end of the last complete frame, or an errno.
struct frames_end {
    std::uint64_t end = 0;
    int err = 0;
    explicit operator bool() const noexcept { return err == 0; }
    std::uint64_t operator*() const noexcept { return end; }
    [[nodiscard]] int error() const noexcept { return err; }
};

// Walks the frames of the file open at `fd` (zstd and skippable frames: magic, header,
// block headers, checksum) from its start; the walk stops at the first frame that is
// incomplete or malformed. The last frame walked is then decompressed to check its
// content checksum; one that fails is left out too, and so on backwards.
frames_end last_complete_frame_end(int fd);

}  // namespace rtcrm::detail::archive
