/// @file cassandra_store.hpp
/// The shared profile store of a scaled-out rtcrm: profiles in a Cassandra (or ScyllaDB)
/// cluster, reached over rtcrm's own CQL native-protocol (v4) client.
///
/// Many rtcrm instances in one Kafka consumer group share one keyspace: a player's profile
/// moves with the player's partition from instance to instance. The tables are modelled on
/// the queries (created if missing):
/// ```
/// CREATE TABLE profile (player_id text PRIMARY KEY, data blob, updated_at timestamp, version bigint,
///                       timer_due bigint, timer_version bigint);
/// CREATE TABLE profile_timers (bucket bigint, due bigint, player_id text, version bigint,
///                       PRIMARY KEY (bucket, due, player_id, version));
/// CREATE TABLE profile_timer_buckets (shard int, bucket bigint, PRIMARY KEY (shard, bucket));
/// CREATE TABLE event (player_id text, day int, timeid timeuuid, type text, event text,
///                     PRIMARY KEY ((player_id, day), timeid)) WITH default_time_to_live = ...;
/// CREATE TABLE source_position (instance text, source text, partition int, offset bigint,
///                     PRIMARY KEY (instance, source, partition));
/// ```
/// - `profile.data` is the profile in rtcrm's binary codec (store/profile_codec.hpp);
///   `updated_at` is the time of its newest event; `version` counts the writes of the row
///   (see "Conditional writes"). A table made without `version` needs
///   `ALTER TABLE profile ADD version bigint` (preparing the write fails until then), and
///   one made without the timer columns `ALTER TABLE profile ADD timer_due bigint` and
///   `ALTER TABLE profile ADD timer_version bigint`.
/// - `event` is the players' event history: each event a profile records is appended
///   once, in the partition of its player and day (days since the Unix epoch, UTC), under a
///   time UUID made from the event's time and id, so writing it twice writes the same row.
///   The row holds what the profile's recent-event ring holds (type, time, id), as JSON.
/// - `source_position` holds each instance's committed source positions.
/// - `profile_timers` is the due-time index (see "Pending timers"), `profile_timer_buckets`
///   the hours that hold entries of it.
///
/// Writes: `write` sends every profile upsert and every event partition's unlogged batch
/// at once, with at most `max_in_flight` requests outstanding, waits for all, and only then
/// writes the batch's source positions, so a stored position never claims an update that
/// is not stored. Failed requests that are retriable were already retried by the client;
/// what still fails comes back as the failure (its code the client's: `errc::unavailable`
/// for a retriable one, `errc::store_error`, ...; its reason the server's message, e.g.
/// "cassandra_store: write: Cannot achieve consistency level QUORUM"); the runtime writes
/// the batch again. A profile whose write landed although its answer was lost fails its
/// condition when written again: a conflict (see below), which costs a replay, never an
/// update.
///
/// Conditional writes: a partition moves between instances at every rebalance, and an
/// instance that lost one may still write it back (events finished after `revoke_timeout`,
/// an instance the group took for dead, a copy cached before the partition left it): that
/// write must not land over the new owner's. So each profile is written with a lightweight
/// transaction, `UPDATE profile SET data = ?, updated_at = ?, version = <v + 1> WHERE
/// player_id = ? IF version = <v>`, where v is the version the writer's copy was read at
/// (`profile::stored_version()`, set by `get`; null for a player the store had no row of,
/// and the shards count their own write-backs on). Only a copy that has every update the
/// store holds can be written. One whose condition fails is not written (`stats().conflicts`)
/// and `write` fails with `errc::conflict`: the runtime nacks the events of that write, so
/// their positions are not committed, and stops applying events (logged as an error: a
/// restart is needed, profile_store.hpp says why); the events come again after the restart
/// or from the partition's next owner, which skips those a stored profile already holds. Each profile records, per source partition, the offset
/// of the newest event applied to it, in the same row as the data: a replay after a crash
/// (SIGKILL) re-applies only the events whose effects were not stored, so each event's
/// effect on a profile is applied once. The price is a Paxos round per profile written
/// (about four round trips instead of one).
///
/// Pending timers: `due_timers` reads a due-time index instead of scanning the profiles.
/// The profile row holds the earliest due of its pending timers (`timer_due`, null when
/// none) and the row version that set it (`timer_version`); `profile_timers` holds one
/// entry (due, player, that version) per row with a due, in the partition of the due's
/// hour (`bucket` = due / 3600000, rounded down), ordered by (due, player), the order of
/// `due_before`; `profile_timer_buckets` lists the hours that hold entries, in one small
/// partition (one row per hour). A write that changes a profile's earliest due:
///   1. inserts the new entry (before the profile, so a stored due is always indexed);
///   2. writes the profile (the conditional update above, setting `timer_due` and
///      `timer_version`) and lists the entry's hour;
///   3. once the profile is written, deletes the old entry.
/// A write that leaves the due as it is touches no index table. The due a row held before
/// the write is known from the store's own reads and writes of it, or read first. A crash
/// or a failure between the steps, or a conditional write that fails, leaves at worst an
/// extra entry, never a missing one: `due_timers` checks each entry it would return against
/// its profile row, and an entry whose row is at the entry's version or later but points to
/// another (due, version) is stale: skipped and deleted. No write stores a version the row
/// has passed, so no write still needs such an entry; an entry whose row does not exist or
/// is older than it (a write under way) is skipped and kept. A failed conditional write
/// deletes its own new entry by the same rule, so the index is left as the winning write
/// made it.
/// Cost of a write: nothing more while no profile's earliest due changes (the row's timer
/// columns ride in the same update); when one does, one round trip for the new entries
/// before the profile updates, and the old entries' deletions go out with the source
/// positions. The hours list is upserted with each new entry: one row per hour, in one
/// partition that every writer touches.
/// Cost of `due_timers`: one read of the hours list from the first listed hour (or the
/// hour of `after`); one paged range read per listed hour up to the bound; one point read
/// of the profile row per entry the filter accepts, in chunks of up to 256 sent together
/// (at most `max_in_flight` at once). Entries the filter refuses cost their share of the
/// range reads, so n callers with disjoint filters (the shards) each read every due entry.
/// Past the bound only `next_due` is wanted: the read stops at the first accepted entry,
/// or after `scan_page_size` entries past the bound, whose due then stands for `next_due`
/// (no accepted player is due earlier: a lower bound, so the caller asks again early,
/// never late). An hour found empty is taken off the list (and put back if an entry
/// arrived meanwhile).
///
/// Caveats:
/// - A `write_batch` is not atomic across players (Cassandra has no multi-partition
///   atomicity without logged batches, which cost a round of their own); each profile's
///   upsert is.
/// - `expire` is not supported (it fails with `errc::store_error`): set `profile_ttl` and
///   `event_ttl`, which Cassandra applies by itself, in wall-clock time since the write.
/// - `scan` and `scan_parallel` read by token ranges, a page at a time; a scan sees rows as
///   they are when each page is read, not one snapshot.
/// - `profile_ttl` drops a row with its pending timers (Cassandra does not know about
///   them); the index entries of such a row are skipped, not deleted.
/// - It keeps no tallies (`keeps_tallies()` is false; a batch's `tallies` are ignored). Its
///   writes are conditional writes per profile, each its own Paxos round, not one
///   transaction: a counter written beside them could land while a profile's write failed
///   (or the other way round), and after a crash or a conflict it would count events twice
///   or not at all. So what rtcrm builds from tallies (the script engine's campaign counters)
///   starts from zero at each start of an instance with this store, and counts what that
///   instance processed since; the profiles themselves (trigger histories, caps) are kept.
///
/// Example:
/// ```
/// auto store = std::make_shared<rtcrm::cassandra_store>(rtcrm::cassandra_options{
///     .hosts = {"10.0.0.1", "10.0.0.2"}, .keyspace = "crm"});
/// topology.with_store(store);
/// ```
#pragma once

#include <rtcrm/core/profile_store.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

/// The consistency level of the store's reads and writes.
enum class cassandra_consistency : std::uint8_t { one, two, three, quorum, all, local_quorum, each_quorum, local_one };

/// Parses "local_quorum", "QUORUM", ...; nullopt for an unknown name.
std::optional<cassandra_consistency> parse_cassandra_consistency(std::string_view name) noexcept;

/// Splits a comma-separated list of contact points ("h1,h2:9042,[::1]:9043"), as flags
/// and environment variables give them; empty items are skipped.
std::vector<std::string> parse_cassandra_hosts(std::string_view list);

/// True for a name usable unquoted as a keyspace: a letter, then letters, digits or `_`,
/// at most 48 characters (Cassandra's limit).
bool is_cql_identifier(std::string_view name) noexcept;

/// How to reach the cluster and shape the schema.
struct cassandra_options {
    std::vector<std::string> hosts;  ///< contact points, "host" or "host:port"; the rest are discovered
    std::uint16_t port = 9042;       ///< for hosts given without a port
    std::string keyspace = "crm";    ///< created if missing (with `replication`)
    /// The replication map of a keyspace created by the store (CQL map literal).
    std::string replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    bool create_schema = true;  ///< create the keyspace and tables if missing
    std::string username;       ///< PasswordAuthenticator credentials, if the cluster asks
    std::string password;
    std::string instance = "rtcrm";  ///< this instance's name in `source_position`
    cassandra_consistency consistency = cassandra_consistency::local_quorum;
    bool record_events = true;                                    ///< append the event history to the `event` table
    std::chrono::seconds event_ttl{std::chrono::hours(24 * 30)};  ///< event table's default TTL (0: none)
    std::chrono::seconds profile_ttl{0};                          ///< profile table's default TTL (0: none)
    std::size_t max_in_flight = 256;  ///< requests outstanding per `write`, `get` or scan worker
    /// Rows per page of scans and index reads; also how far `due_timers` looks past its bound.
    std::int32_t scan_page_size = 1000;
    std::size_t connections_per_host = 1;
    std::chrono::milliseconds request_timeout{5000};  ///< per attempt
    int max_retries = 3;                              ///< per request, for retriable errors

    /// @throws rtcrm::error(invalid_config) for no hosts, an empty or non-identifier
    ///         keyspace or instance, zero in-flight requests, ...
    void validate() const;
    /// For logs: every field, the password masked.
    [[nodiscard]] std::string to_string() const;
};

/// Counters of the store's own work (the client's retries and reconnects included).
struct cassandra_store_stats {
    std::uint64_t profiles_written = 0;
    std::uint64_t events_appended = 0;
    std::uint64_t batches = 0;  ///< unlogged event batches sent
    std::uint64_t retries = 0;  ///< client retries after retriable errors
    std::uint64_t reconnects = 0;
    std::uint64_t failed_writes = 0;  ///< `write` calls that returned an error
    std::uint64_t conflicts = 0;      ///< profiles not written: another writer changed them since they were read
    std::uint64_t stale_timer_entries = 0;  ///< due-time index entries found stale and deleted by `due_timers`
    std::size_t hosts_up = 0;
};

/// The Cassandra `profile_store`. Thread-safe.
class cassandra_store final : public profile_store {
public:
    /// Connects, creates the schema if asked, and prepares the statements.
    /// @throws rtcrm::error(invalid_config) for bad options or credentials;
    ///         rtcrm::error(unavailable) when no host can be reached, naming each and why;
    ///         rtcrm::error(store_error) when the schema cannot be created.
    explicit cassandra_store(cassandra_options options);
    ~cassandra_store() override;
    cassandra_store(const cassandra_store&) = delete;
    cassandra_store& operator=(const cassandra_store&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "cassandra"; }
    result<void> get(std::span<const player_key> keys, std::span<std::optional<profile>> out) override;
    /// Fails with the first request that still failed after the client's retries.
    result<void> write(const write_batch& batch) override;
    result<void> scan(const profile_visitor& visit) override;
    /// Splits the ring's token ranges over `workers` threads.
    result<void> scan_parallel(std::size_t workers, const visitor_factory& make) override;
    /// Reads the `profile_timers` index, hour by hour (cost above); no full scan. `next_due`
    /// may be earlier than the first accepted due past the bound, never later (above).
    result<due_page> due_timers(std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
                                const player_filter& accept) override;
    /// Nothing to do: a completed `write` is acknowledged by the cluster.
    result<void> flush() override;
    [[nodiscard]] std::vector<source_position> positions() override;
    [[nodiscard]] bool durable() const noexcept override { return true; }

    [[nodiscard]] cassandra_store_stats stats() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
