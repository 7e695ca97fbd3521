#include "submit_source.hpp"

namespace rtcrm::detail {

using clock = std::chrono::steady_clock;

int submit_source::try_push(record& rec) {
    // Announce the push before looking at closed_: either close() sees it in flight (and
    // poll waits for it to land), or this push sees the close and refuses.
    pushing_.fetch_add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_seq_cst)) {
        pushing_.fetch_sub(1, std::memory_order_seq_cst);
        return -1;
    }
    const bool pushed = ring_.try_push(rec);
    pushing_.fetch_sub(1, std::memory_order_seq_cst);
    return pushed ? 1 : 0;
}

submit_status submit_source::push(record& rec, std::chrono::milliseconds timeout) {
    int r = try_push(rec);
    if (r == 0 && timeout.count() > 0) {
        const auto deadline = clock::now() + timeout;
        room_.wait_until([&] { return (r = try_push(rec)) != 0; }, deadline);
    }
    if (r == 1) {
        items_.notify_all();
        return submit_status::accepted;
    }
    return r == 0 ? submit_status::full : submit_status::stopped;
}

std::size_t submit_source::push(std::span<record> recs, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    std::size_t done = 0;
    int r = 1;
    while (done < recs.size()) {
        r = try_push(recs[done]);
        if (r == 1) {
            ++done;
            continue;
        }
        if (r < 0 || clock::now() >= deadline) {
            break;
        }
        items_.notify_all();  // what is in already makes room once the source takes it
        if (!room_.wait_until([&] { return (r = try_push(recs[done])) != 0; }, deadline) || r < 0) {
            break;
        }
        ++done;
    }
    if (done > 0) {
        items_.notify_all();
    }
    return done;
}

void submit_source::close() {
    closed_.store(true, std::memory_order_seq_cst);
    room_.notify_all();
    items_.notify_all();
}

poll_status submit_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    auto take = [&] {
        const auto before = out.size();
        record rec;
        while (out.size() < max && ring_.try_pop(rec)) {
            rec.origin.partition = 0;
            rec.origin.offset = next_offset_++;
            out.push_back(std::move(rec));
        }
        return out.size() > before;
    };
    const bool finishing = [&] {
        // Only once closed with no push in flight can "empty" mean "empty for good".
        return closed_.load(std::memory_order_seq_cst) && pushing_.load(std::memory_order_seq_cst) == 0;
    }();
    if (!take() && !finishing) {
        items_.wait_until([&] { return !ring_.empty() || closed_.load(std::memory_order_seq_cst); },
                          clock::now() + timeout);
        take();
    }
    if (!out.empty()) {
        room_.notify_all();
    }
    if (finishing && ring_.empty()) {
        return poll_status::end;
    }
    return poll_status::more;
}

}  // namespace rtcrm::detail
