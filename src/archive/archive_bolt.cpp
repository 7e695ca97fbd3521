#include <rtcrm/archive/archive_bolt.hpp>

namespace rtcrm {

bolt_factory archive_bolt::factory() {
    return [](const bolt_placement&) { return std::make_unique<archive_bolt>(); };
}

void archive_bolt::process(std::span<event> batch, bolt_context& ctx) {
    for (auto& ev : batch) {
        ctx.emit(ev, stream::archive, std::string{ev.raw()});
    }
}

}  // namespace rtcrm
