// Internal: the one way rtcrm parses JSON that comes from outside (events, schemas, stored
// profiles, request bodies): iteratively, so no input can exhaust the thread's stack, with
// a bound on nesting, UTF-8 validated, and the whole length read (a NUL byte is a byte,
// not the end of the text).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/reader.h>

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace rtcrm::detail {

// The nesting bound for JSON documents other than events (schemas, stored profile values,
// request bodies): far beyond what they need, far below what would hold a thread long.
inline constexpr unsigned max_nested_json_depth = 128;

// What went wrong and at which byte offset. Empty if nothing.
struct json_parse_problem {
    std::string message;  // e.g. "invalid UTF-8", without the offset
    std::size_t offset = 0;
    explicit operator bool() const noexcept { return !message.empty(); }
    // "invalid UTF-8 at offset 12": a dead-letter reason or an error message.
    [[nodiscard]] std::string with_offset() const { return fmt::format("{} at offset {}", message, offset); }
};

// Forwards the reader's SAX events to a document, refusing nesting deeper than `max_depth`
// (the outermost object or array is level 1) and strings that hold a lone UTF-16
// surrogate (a `\uDC00`-style escape the reader decodes to bytes that are not UTF-8).
template <typename Document>
class bounded_handler {
public:
    using Ch = typename Document::Ch;
    enum class stop { none, too_deep, surrogate };

    bounded_handler(Document& doc, unsigned max_depth) noexcept : doc_(doc), max_depth_(max_depth) {}

    bool Null() { return doc_.Null(); }
    bool Bool(bool b) { return doc_.Bool(b); }
    bool Int(int i) { return doc_.Int(i); }
    bool Uint(unsigned i) { return doc_.Uint(i); }
    bool Int64(std::int64_t i) { return doc_.Int64(i); }
    bool Uint64(std::uint64_t i) { return doc_.Uint64(i); }
    bool Double(double d) { return doc_.Double(d); }
    bool RawNumber(const Ch* s, rapidjson::SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
    bool String(const Ch* s, rapidjson::SizeType n, bool copy) { return text_ok(s, n) && doc_.String(s, n, copy); }
    bool Key(const Ch* s, rapidjson::SizeType n, bool copy) { return text_ok(s, n) && doc_.Key(s, n, copy); }
    bool StartObject() { return enter() && doc_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) {
        --depth_;
        return doc_.EndObject(n);
    }
    bool StartArray() { return enter() && doc_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        --depth_;
        return doc_.EndArray(n);
    }

    [[nodiscard]] stop stopped() const noexcept { return stop_; }

private:
    bool enter() noexcept {
        if (++depth_ > max_depth_) {
            stop_ = stop::too_deep;
            return false;
        }
        return true;
    }
    // With encoding validation on, the only ill-formed UTF-8 a decoded string can hold is
    // an encoded surrogate (ED A0..ED BF), which only a `\u` escape produces.
    bool text_ok(const Ch* s, rapidjson::SizeType n) noexcept {
        const char* p = s;
        const char* end = s + n;
        while ((p = static_cast<const char*>(std::memchr(p, '\xED', static_cast<std::size_t>(end - p)))) != nullptr) {
            if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) {
                stop_ = stop::surrogate;
                return false;
            }
            ++p;
        }
        return true;
    }

    Document& doc_;
    unsigned max_depth_;
    unsigned depth_ = 0;
    stop stop_ = stop::none;
};

// Parses `text` into `doc` (replacing its value). On failure `doc` is left null and the
// problem says what and where. Strings are copied into the document's allocator.
template <typename Document>
json_parse_problem parse_bounded_json(Document& doc, std::string_view text, unsigned max_depth) {
    constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
    rapidjson::MemoryStream bytes(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
    rapidjson::GenericReader<rapidjson::UTF8<>, typename Document::EncodingType, rapidjson::CrtAllocator> reader;
    bounded_handler<Document> handler{doc, max_depth};
    bool parsed = false;
    auto generate = [&](Document&) {
        parsed = !reader.template Parse<flags>(in, handler).IsError();
        return parsed;
    };
    doc.SetNull();
    doc.Populate(generate);
    if (!parsed) {
        const std::size_t at = reader.GetErrorOffset();
        switch (handler.stopped()) {
        case bounded_handler<Document>::stop::too_deep:
            return {fmt::format("JSON nested deeper than {} levels", max_depth), at};
        case bounded_handler<Document>::stop::surrogate:
            return {"a \\u escape of a lone UTF-16 surrogate (not Unicode text) in a string", at};
        case bounded_handler<Document>::stop::none: break;
        }
        if (reader.GetParseErrorCode() == rapidjson::kParseErrorStringInvalidEncoding) {
            return {"invalid UTF-8", at};
        }
        return {rapidjson::GetParseError_En(reader.GetParseErrorCode()), at};
    }
    // The reader takes a NUL byte for the end of the text; whatever follows it is not JSON.
    if (const std::size_t at = in.Tell(); at < text.size()) {
        doc.SetNull();
        return {fmt::format("{} after the JSON value", text[at] == '\0' ? std::string{"NUL byte"}
                                                                        : fmt::format("byte 0x{:02x}", static_cast<unsigned char>(text[at]))),
                at};
    }
    return {};
}

}  // namespace rtcrm::detail
