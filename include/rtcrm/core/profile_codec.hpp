/// @file profile_codec.hpp
/// The compact, versioned binary encoding of a `profile`, shared by the durable stores.
///
/// Layout (version 1): a version byte, then the key, the last event time, attributes,
/// windowed counters, the recent-event ring (oldest first), the trigger histories and the
/// applied source positions. Version 2 appends the pending timers (count, then name, due
/// time, arming event id, data JSON and arming event reference each). Version 3 appends to
/// version 2 the conversions: a count, then for each trigger history whose `converted` is
/// not 0 its index in the list of trigger histories and `converted`. A profile is written
/// in the lowest version that holds it (1 without timers and conversions, 2 with timers
/// and no conversion, else 3), so it keeps the bytes an older codec wrote.
/// Integers are zig-zag varints, strings are a varint length and bytes, doubles are 8
/// bytes little-endian. A decoder of a later version keeps reading version 1.
///
/// Caveats: decoding checks every length against the input and fails cleanly on
/// truncated or foreign bytes; it does not check that names are valid UTF-8.
#pragma once

#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/result.hpp>

#include <string>
#include <string_view>

namespace rtcrm {

/// The current encoding version.
inline constexpr unsigned char profile_codec_version = 3;

/// Encodes `p` (appends to `out`). Thread-safe; pure.
void encode_profile(const profile& p, std::string& out);

/// Decodes one encoded profile. Fails with `errc::store_error` and a reason naming what
/// was wrong (unknown version, truncated field) for bytes that are not a profile.
result<profile> decode_profile(std::string_view bytes);

}  // namespace rtcrm
