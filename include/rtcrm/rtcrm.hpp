/// @file rtcrm.hpp
/// The core in one include: events and their acks, profiles and the store interface,
/// sources, bolts and sinks, topologies and the runtime, and the built-in parts that
/// need nothing beyond the core (memory store, NDJSON and generator sources, NDJSON and
/// callback sinks, schema validation, the topology test driver).
///
/// The optional components (Lua, LMDB, Kafka, HTTP, Cassandra, libuv and Asio bridges,
/// declarative configuration) are included one header at a time from
/// `<rtcrm/<component>/...>`, so that a host pulls in only what it links.
///
/// Caveats:
/// - Convenient, not free: it includes every core header. Inside a library or a large
///   code base, include the headers you use.
#pragma once

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/duration.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/log.hpp>
#include <rtcrm/core/loop_bridge.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/core/ndjson_source.hpp>
#include <rtcrm/core/output.hpp>
#include <rtcrm/core/player_key.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/profile_codec.hpp>
#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/result.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/runtime_stats.hpp>
#include <rtcrm/core/script_admin.hpp>
#include <rtcrm/core/segment_compiler.hpp>
#include <rtcrm/core/sink.hpp>
#include <rtcrm/core/source.hpp>
#include <rtcrm/core/source_position.hpp>
#include <rtcrm/core/submit_status.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/core/thread_scheduling.hpp>
#include <rtcrm/core/topology.hpp>
#include <rtcrm/core/trigger_id.hpp>
#include <rtcrm/core/validation_bolt.hpp>
