#include "archive/zstd_frames.hpp"

#include <zstd.h>

#include <cerrno>
#include <string>
#include <unistd.h>
#include <vector>

namespace rtcrm::detail::archive {

namespace {

constexpr std::uint32_t zstd_magic = 0xFD2FB528U;
constexpr std::uint32_t skippable_mask = 0xFFFFFFF0U;
constexpr std::uint32_t skippable_magic = 0x184D2A50U;

std::uint32_t le(const unsigned char* p, int n) {
    std::uint32_t v = 0;
    for (int i = n - 1; i >= 0; --i) {
        v = v << 8 | p[i];
    }
    return v;
}

// Reads exactly `n` bytes at `at`; 0 if they are there, -1 if the file ends first, else errno.
int read_at(int fd, std::uint64_t at, void* into, std::size_t n) {
    auto* p = static_cast<unsigned char*>(into);
    std::size_t done = 0;
    while (done < n) {
        const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(at + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return errno;
        }
        if (r == 0) {
            return -1;
        }
        done += static_cast<std::size_t>(r);
    }
    return 0;
}

// The end of the frame starting at `at`: > at if it is complete and well formed, `at` if
// not, or -errno.
std::int64_t frame_end(int fd, std::uint64_t at) {
    unsigned char head[18];
    if (const int r = read_at(fd, at, head, 5); r != 0) {
        return r < 0 ? static_cast<std::int64_t>(at) : -r;
    }
    const std::uint32_t magic = le(head, 4);
    std::uint64_t pos = at;
    if ((magic & skippable_mask) == skippable_magic) {
        if (const int r = read_at(fd, at + 4, head + 4, 4); r != 0) {
            return r < 0 ? static_cast<std::int64_t>(at) : -r;
        }
        pos = at + 8 + le(head + 4, 4);
        unsigned char last;
        // The skipped content must be there: its last byte is.
        if (pos > at + 8) {
            if (const int r = read_at(fd, pos - 1, &last, 1); r != 0) {
                return r < 0 ? static_cast<std::int64_t>(at) : -r;
            }
        }
        return static_cast<std::int64_t>(pos);
    }
    if (magic != zstd_magic) {
        return static_cast<std::int64_t>(at);
    }
    const unsigned descriptor = head[4];
    const bool single_segment = (descriptor & 0x20U) != 0;
    const bool checksum = (descriptor & 0x04U) != 0;
    if ((descriptor & 0x08U) != 0) {
        return static_cast<std::int64_t>(at);  // the reserved bit
    }
    static constexpr int did_sizes[] = {0, 1, 2, 4};
    static constexpr int fcs_sizes[] = {0, 2, 4, 8};
    const unsigned fcs_flag = descriptor >> 6;
    const int fcs = fcs_flag == 0 && single_segment ? 1 : fcs_sizes[fcs_flag];
    pos = at + 5 + (single_segment ? 0 : 1) + did_sizes[descriptor & 3U] + fcs;
    for (;;) {
        unsigned char block[3];
        if (const int r = read_at(fd, pos, block, 3); r != 0) {
            return r < 0 ? static_cast<std::int64_t>(at) : -r;
        }
        const std::uint32_t header = le(block, 3);
        const bool last = (header & 1U) != 0;
        const unsigned type = (header >> 1) & 3U;
        const std::uint32_t size = header >> 3;
        if (type == 3) {
            return static_cast<std::int64_t>(at);
        }
        pos += 3 + (type == 1 ? 1 : size);
        if (last) {
            break;
        }
    }
    pos += checksum ? 4 : 0;
    // The frame's last byte must be there.
    unsigned char tail;
    if (const int r = read_at(fd, pos - 1, &tail, 1); r != 0) {
        return r < 0 ? static_cast<std::int64_t>(at) : -r;
    }
    return static_cast<std::int64_t>(pos);
}

// Whether the bytes [from, to) of the file decompress as whole frames (checksums included).
bool decompresses(int fd, std::uint64_t from, std::uint64_t to) {
    std::string in(static_cast<std::size_t>(to - from), '\0');
    if (read_at(fd, from, in.data(), in.size()) != 0) {
        return false;
    }
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (dctx == nullptr) {
        return false;
    }
    std::vector<char> out(ZSTD_DStreamOutSize());
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    bool ok = true;
    for (;;) {
        ZSTD_outBuffer output{out.data(), out.size(), 0};
        const std::size_t before = input.pos;
        const std::size_t ret = ZSTD_decompressStream(dctx, &output, &input);
        if (ZSTD_isError(ret)) {
            ok = false;
            break;
        }
        if (ret == 0 && input.pos == input.size) {
            break;  // every frame ended, checksums checked
        }
        if (output.pos == 0 && input.pos == before) {
            ok = false;  // the input ends inside a frame
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return ok;
}

}  // namespace

frames_end last_complete_frame_end(int fd) {
    std::vector<std::uint64_t> starts;
    std::uint64_t end = 0;
    for (;;) {
        const std::int64_t next = frame_end(fd, end);
        if (next < 0) {
            return {.end = 0, .err = static_cast<int>(-next)};
        }
        if (static_cast<std::uint64_t>(next) == end) {
            break;
        }
        starts.push_back(end);
        end = static_cast<std::uint64_t>(next);
    }
    // A frame whose structure is whole may still hold garbage where a crash left the
    // file's new length before its data: its checksum says so.
    while (!starts.empty() && !decompresses(fd, starts.back(), end)) {
        end = starts.back();
        starts.pop_back();
    }
    return {.end = end, .err = 0};
}

}  // namespace rtcrm::detail::archive
