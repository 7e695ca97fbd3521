/// @file trigger_id.hpp
/// The identifier of a trigger, so consumers can deduplicate what at-least-once delivery
/// sends twice.
///
/// Every trigger a campaign emits carries `"trigger_id"` (the last member of its body). It
/// is derived only from what the same event brings again when it is redelivered (after a
/// crash, a restart, a Kafka rebalance, a webhook retry): the campaign, the player and the
/// event. The same campaign firing on the same event always gets the same id, in any
/// process, on any platform; two different firings never share one (but see `h:` below
/// for events without an id).
///
/// The formula (bytes; `+` is concatenation):
/// @code
///   trigger_id = part(campaign) + ":" + part(player) + ":" + event_ref  [+ ":dry_run"]
///   event_ref  = "t:" + due + ":" + part(timer name) + ":" + (arming_ref | "-")
///                                                            a timer event (origin().timer)
///              | "e:" + part(event id)                       the event has a non-empty "id"
///              | "o:" + source + ":" + partition + ":" + offset
///                                                            no id; the source gave a position
///              | "h:" + hex16(fnv1a64(raw bytes))            no id and no position
///   part(s)    = s, each byte outside A-Z a-z 0-9 - . _ ~ written as "%" and two
///                uppercase hex digits (RFC 3986 percent-encoding of all but unreserved)
/// @endcode
/// - `campaign` is the campaign id as text (`3` and `"3"` are the same campaign);
///   `player` is the player key's text (`player_key::text()`: decimal for integer keys, the
///   Kafka message key when there is one); the event id is `event::id()` (an integer id is
///   its decimal text, so `7` and `"7"` give the same id). Strings are their UTF-8 bytes as
///   decoded from the JSON (`"a\u003ab"` is `a:b`, encoded `a%3Ab`).
/// - `source`, `partition` and `offset` are the event's `origin`, in decimal (a `-` sign
///   if negative): the source's index in the topology, the Kafka partition (0 for a file),
///   the Kafka offset or the byte offset of the line in an NDJSON file; decimal without
///   leading zeros. Used when the source set `offset >= 0` (not `origin::sequenced`):
///   those positions are the same when the event is read again. Adding or reordering
///   sources in a topology changes the ids of events without an id.
/// - `fnv1a64` is 64-bit FNV-1a over the event's raw bytes as received (offset basis
///   0xcbf29ce484222325, prime 0x100000001b3), written as 16 lowercase hex digits. It is
///   used for events that have neither an id nor a position (the HTTP gateway,
///   `runtime::submit`): a retried POST of the same bytes gets the same id, but two
///   identical events of one player (the same bytes: no `id`, and the same `ts` or none)
///   get the same id too, and a consumer that deduplicates keeps only one. Games should
///   send event ids. (Two different byte strings share a hash with probability 2^-64;
///   only events of one player for one campaign compete, so this is negligible.)
/// - `":dry_run"` ends the id of a dry-run campaign's trigger (the `shadow` stream), so a
///   shadow trigger and the live trigger of the same campaign and event never share an id.
///
/// Every part is percent-encoded and every kind of `event_ref` has a fixed number of
/// fields, so the id splits back into its parts unambiguously: different (campaign,
/// player, event_ref, dry run) never give the same id. Ids contain only `A-Z a-z 0-9 - . _
/// ~ % :`: they need no escaping in JSON, HTTP headers, Kafka headers or SQL string
/// literals. Their length grows with the parts (an id of 200 bytes gives a part of
/// up to 600); a consumer that needs a fixed width can hash the id itself.
///
/// - `"t:"`: the event the runtime delivers when a player's timer comes due
///   (`timer:NAME`, `origin().timer`). `due` is its time (`event::ts()`) in decimal, the
///   timer name is the type without `timer:`, and `arming_ref` is the `event_ref` of the
///   event during whose handling the timer was armed (`event::timer_ref()`,
///   `pending_timer::ref`), itself a `t:` reference for a timer armed while a timer event
///   was handled; `-` when it has none. It comes before the event's id, which a timer
///   event shares with its arming event: every firing of a timer has its own id (another
///   due time or name gives another), stable as its arming event's. The arming reference
///   is the last field and splits itself, so the id stays unambiguous.
///
/// Example: campaign 3, player 42, event `{"id":"e-1",...}` → `3:42:e:e-1`; the same
/// event without an id, read from Kafka partition 2 at offset 1234 by the topology's first
/// source → `3:42:o:0:2:1234`; campaign 3 firing on the timer `campaign:3` due at 1000,
/// armed by the event `e-1` → `3:42:t:1000:campaign%3A3:e:e-1`; campaign `"win back"` as
/// a dry run → `win%20back:42:e:e-1:dry_run`.
#pragma once

#include <rtcrm/core/event.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcrm {

/// Appends `text` percent-encoded as a part of a trigger id (see the file comment).
void append_trigger_id_part(std::string& out, std::string_view text);

/// Appends the event reference of `ev`: `t:…`, `e:…`, `o:…` or `h:…` (see the file
/// comment). A timer armed while `ev` is handled stores it as its arming reference.
void append_event_ref(std::string& out, const event& ev);

/// Appends the id of the trigger campaign `campaign` (its id as text) emits for `ev`.
void append_trigger_id(std::string& out, std::string_view campaign, const event& ev, bool dry_run);

/// The id of the trigger campaign `campaign` (its id as text) emits for `ev`.
[[nodiscard]] std::string trigger_id(std::string_view campaign, const event& ev, bool dry_run);

/// 64-bit FNV-1a of `bytes` (the hash of `h:` references).
[[nodiscard]] std::uint64_t fnv1a_64(std::string_view bytes) noexcept;

/// The `trigger_id` of a trigger body as rtcrm writes it (a JSON object whose last member
/// is `"trigger_id"`), read without parsing the body; empty when `body` has none. Sinks use
/// it to put the id in a message header.
[[nodiscard]] std::string_view trigger_id_of(std::string_view body) noexcept;

}  // namespace rtcrm
