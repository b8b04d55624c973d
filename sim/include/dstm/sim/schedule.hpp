#pragma once
/// \file
/// `dstm::sim::fault_schedule`: faults as data — which fault, on what, when, for how long —
/// instead of the nemesis's random draws. Property tests generate schedules (RapidCheck shrinks
/// a failing one to the few faults that matter), and a schedule prints as one line that
/// `dstm-sim --schedule` reads back, so a shrunk failure is replayed by one command.
///
/// The text form is a comma-separated list of `kind:target@at+duration` (milliseconds of
/// virtual time from the start of the run), e.g. `crash:1@120+300,expire:0@50,lag:2@10+500`:
///  - `crash:S` — server S crashes, restarts after the duration;
///  - `isolate:S` — server S is cut off from the others for the duration;
///  - `cut:C` — client C's link to its current server is cut for the duration;
///  - `expire:C` — the ensemble expires client C's session (no duration);
///  - `believe:C` — client C wrongly believes its session expired (no duration);
///  - `lag:S` — follower S's replication lags by the duration, for the duration.
/// Server and client numbers are taken modulo the run's servers and clients, so any schedule
/// applies to any run.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim {

struct scheduled_fault {
  enum class kind { crash, isolate, cut, expire, believe, lag };
  kind what = kind::crash;
  int target = 0;                ///< a server (crash, isolate, lag) or a client (the others)
  std::int64_t at_ms = 0;        ///< when, from the start of the run
  std::int64_t duration_ms = 0;  ///< how long (ignored by expire and believe)

  friend bool operator==(const scheduled_fault&, const scheduled_fault&) = default;
};

inline constexpr std::string_view fault_kind_name(scheduled_fault::kind k) noexcept {
  switch (k) {
    case scheduled_fault::kind::crash:
      return "crash";
    case scheduled_fault::kind::isolate:
      return "isolate";
    case scheduled_fault::kind::cut:
      return "cut";
    case scheduled_fault::kind::expire:
      return "expire";
    case scheduled_fault::kind::believe:
      return "believe";
    case scheduled_fault::kind::lag:
      return "lag";
  }
  return "?";
}

struct fault_schedule {
  std::vector<scheduled_fault> faults;

  /// The text form (see the file comment); empty for no faults.
  std::string format() const {
    std::string out;
    for (const auto& f : faults) {
      if (!out.empty()) out += ',';
      out += std::string(fault_kind_name(f.what)) + ':' + std::to_string(f.target) + '@' +
             std::to_string(f.at_ms);
      if (f.what != scheduled_fault::kind::expire && f.what != scheduled_fault::kind::believe)
        out += '+' + std::to_string(f.duration_ms);
    }
    return out;
  }

  /// Reads the text form. Throws std::invalid_argument naming the faulty item.
  static fault_schedule parse(std::string_view text) {
    fault_schedule s;
    while (!text.empty()) {
      const auto comma = text.find(',');
      const std::string_view item = text.substr(0, comma);
      text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
      s.faults.push_back(parse_item(item));
    }
    return s;
  }

 private:
  static scheduled_fault parse_item(std::string_view item) {
    auto bad = [&](const char* why) {
      throw std::invalid_argument("fault schedule item '" + std::string(item) + "': " + why +
                                  " (expected kind:target@at_ms[+duration_ms])");
    };
    auto number = [&](std::string_view digits) {
      std::int64_t v = -1;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc{} || p != digits.data() + digits.size() || v < 0) bad("not a number");
      return v;
    };
    const auto colon = item.find(':');
    const auto at = item.find('@');
    if (colon == std::string_view::npos || at == std::string_view::npos || at < colon)
      bad("malformed");
    scheduled_fault f;
    const auto name = item.substr(0, colon);
    bool found = false;
    for (auto k : {scheduled_fault::kind::crash, scheduled_fault::kind::isolate,
                   scheduled_fault::kind::cut, scheduled_fault::kind::expire,
                   scheduled_fault::kind::believe, scheduled_fault::kind::lag}) {
      if (fault_kind_name(k) == name) {
        f.what = k;
        found = true;
      }
    }
    if (!found) bad("unknown kind");
    f.target = static_cast<int>(number(item.substr(colon + 1, at - colon - 1)));
    const auto rest = item.substr(at + 1);
    const auto plus = rest.find('+');
    f.at_ms = number(rest.substr(0, plus));
    if (plus != std::string_view::npos) f.duration_ms = number(rest.substr(plus + 1));
    return f;
  }
};

/// Applies `schedule` to `ens` from a simulated thread of its own, started now. `session_of(c)`
/// gives client c's current session id (0 when it has none); clients are numbered 0..clients-1.
/// Every fault is healed when its duration ends. The thread ends after the last fault healed.
inline void run_schedule(world& w, ensemble& ens, const fault_schedule& schedule, int clients,
                         std::function<std::int64_t(int)> session_of) {
  if (schedule.faults.empty()) return;
  struct step {
    std::int64_t at_ns;
    std::function<void()> act;
  };
  auto steps = std::make_shared<std::vector<step>>();
  const auto servers = ens.server_count();
  const auto start = w.now();
  for (const auto& f : schedule.faults) {
    const auto at = start + f.at_ms * milliseconds;
    const auto until = at + f.duration_ms * milliseconds;
    const int server = f.target % servers;
    const int client = clients > 0 ? f.target % clients : 0;
    switch (f.what) {
      case scheduled_fault::kind::crash:
        steps->push_back({at, [&ens, server] { ens.crash(server); }});
        steps->push_back({until, [&ens, server] { ens.restart(server); }});
        break;
      case scheduled_fault::kind::isolate:
        steps->push_back({at, [&ens, server] { ens.isolate(server, true); }});
        steps->push_back({until, [&ens, server] { ens.isolate(server, false); }});
        break;
      case scheduled_fault::kind::lag:
        steps->push_back(
            {at, [&ens, server, f] { ens.set_lag(server, f.duration_ms * milliseconds); }});
        steps->push_back({until, [&ens, server] { ens.set_lag(server, 0); }});
        break;
      case scheduled_fault::kind::cut: {
        // The link is cut from the session's server at the time; healed on that same link.
        auto cut = std::make_shared<std::pair<std::int64_t, int>>(0, -1);
        steps->push_back({at, [&ens, session_of, client, cut] {
                            const auto s = session_of(client);
                            const int sv = s != 0 ? ens.server_of(s) : -1;
                            if (sv < 0) return;
                            *cut = {s, sv};
                            ens.cut(s, sv, true);
                          }});
        steps->push_back({until, [&ens, cut] {
                            if (cut->second >= 0) ens.cut(cut->first, cut->second, false);
                          }});
        break;
      }
      case scheduled_fault::kind::expire:
        steps->push_back({at, [&ens, session_of, client] {
                            if (auto s = session_of(client)) ens.expire_session(s);
                          }});
        break;
      case scheduled_fault::kind::believe:
        steps->push_back({at, [&ens, session_of, client] {
                            if (auto s = session_of(client)) ens.client_believes_expired(s);
                          }});
        break;
    }
  }
  // Stable: steps at the same time keep the schedule's order (a heal before a later fault).
  std::stable_sort(steps->begin(), steps->end(),
                   [](const step& a, const step& b) { return a.at_ns < b.at_ns; });
  w.spawn("schedule", [&w, steps] {
    for (auto& s : *steps) {
      if (s.at_ns > w.now()) w.sleep_for(s.at_ns - w.now());
      s.act();
    }
  });
}

}  // namespace dstm::sim
