/// @file json_text.hpp
/// Writing text into hand-built JSON: the one string escaper of rtcrm, safe for any bytes.
///
/// JSON text must be UTF-8, but the bytes rtcrm quotes do not always are: an event's raw
/// bytes in a dead-letter record, a player key, a script's error message quoting what it
/// read. `append_json_string` always writes a valid JSON string: it escapes `"`, `\` and
/// the control characters U+0000..U+001F (as `\n`, `\t`, ... or `\u00XX`) and replaces
/// every ill-formed UTF-8 sequence by U+FFFD REPLACEMENT CHARACTER, one U+FFFD for each
/// maximal ill-formed subpart (the Unicode Standard's recommended practice, chapter 3.9):
/// a stray continuation byte, a lead byte without its continuation bytes, an overlong
/// form, an encoded UTF-16 surrogate (U+D800..U+DFFF) or a code point past U+10FFFF.
/// Valid UTF-8 is copied as it is (no `\u` escapes for non-ASCII text).
///
/// Example:
/// @code
///   std::string out;
///   rtcrm::append_json_string(out, "a\"b\xff");   // out == R"("a\"b)" "\xEF\xBF\xBD" R"(")"
/// @endcode
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rtcrm {

/// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF). Thread-safe; never throws.
[[nodiscard]] bool is_valid_utf8(std::string_view text) noexcept;

/// The byte offset of the first ill-formed UTF-8 sequence in `text`, or `text.size()` if
/// there is none.
[[nodiscard]] std::size_t first_invalid_utf8(std::string_view text) noexcept;

/// Appends `text` to `out` as a quoted JSON string, by the rules above.
/// @return true if some ill-formed UTF-8 was replaced by U+FFFD (the string is then not
///         the same text as the bytes; say so to the reader).
bool append_json_string(std::string& out, std::string_view text);

/// Appends `text` to `out` as the contents of a JSON string, without the quotes.
/// @return as `append_json_string`.
bool append_json_string_contents(std::string& out, std::string_view text);

/// `text` with every ill-formed UTF-8 sequence replaced by U+FFFD, by the rules above (no
/// JSON escaping): for text handed to writers that copy bytes as they are.
[[nodiscard]] std::string to_valid_utf8(std::string_view text);

}  // namespace rtcrm
