#pragma once
/// \file
/// `any_coordinator`: a type-erased coordinator session. The STM engine is written once against
/// it (one engine, not a copy per backend); `make_any_coordinator(std::shared_ptr<C>)` wraps any
/// model of the `dstm::coordinator` concept. Calls cost one virtual dispatch, which is nothing
/// next to a network round trip, and the warm read path does not reach the coordinator at all.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/types.hpp"

namespace dstm {

class any_coordinator {
 public:
  virtual ~any_coordinator() = default;

  virtual std::string create(std::string_view path, std::string_view data, create_mode mode,
                             const acl_list& acls, dstm::stat* out, std::error_code& ec) = 0;
  virtual node get(std::string_view path, watch w, std::error_code& ec) = 0;
  virtual dstm::stat set(std::string_view path, std::string_view data, std::int32_t version,
                         std::error_code& ec) = 0;
  virtual void remove(std::string_view path, std::int32_t version, std::error_code& ec) = 0;
  virtual std::optional<dstm::stat> exists(std::string_view path, watch w, std::error_code& ec) = 0;
  virtual children_list children(std::string_view path, watch w, std::error_code& ec) = 0;
  virtual std::vector<op_result> multi(std::span<const op> ops, std::error_code& ec) = 0;
  virtual std::vector<get_result> get_many(std::span<const std::string> paths, const watch& w,
                                           std::error_code& ec) = 0;
  /// `multi(ops)` followed by `get_many(paths, w)`; models that can pipeline the two send them
  /// back to back (one round trip), others run them in turn. `multi_ec` is the multi's error;
  /// the reads are sent only if the multi succeeded. Returns how many round trips it took.
  virtual int multi_then_get(std::span<const op> ops, std::vector<op_result>& results,
                             std::error_code& multi_ec, std::span<const std::string> paths,
                             const watch& w, std::vector<get_result>& reads) = 0;
  /// `multi_then_get` whose reads are handed to `on_read(i, result)`, once per path. Models
  /// that can (`completes_reads_later()`) return after the multi's reply and call `on_read`
  /// from their completion thread as the reads arrive; the others call it before returning.
  /// Returns how many round trips the caller waited for.
  virtual int multi_then_get_async(std::span<const op> ops, std::vector<op_result>& results,
                                   std::error_code& multi_ec, std::span<const std::string> paths,
                                   const watch& w, const read_callback& on_read) = 0;
  /// True when `multi_then_get_async` may return before its reads have arrived.
  virtual bool completes_reads_later() const noexcept = 0;
  virtual void sync(std::string_view path, std::error_code& ec) = 0;
  virtual std::int64_t session_id() const = 0;
  virtual session_state state() const = 0;
  virtual std::uint64_t subscribe(std::function<void(session_state)> listener) = 0;
  virtual void unsubscribe(std::uint64_t id) = 0;
  virtual void close() = 0;
  virtual std::int64_t now() = 0;
  virtual void sleep_for(std::int64_t ns) = 0;
};

namespace detail {

template <class C>
concept pipelines_multi_then_get =
    requires(C& c, std::span<const op> ops, std::vector<op_result>& r, std::error_code& ec,
             std::span<const std::string> paths, const watch& w, std::vector<get_result>& g) {
      { c.multi_then_get(ops, r, ec, paths, w, g) };
    };

template <class C>
concept pipelines_multi_then_get_async =
    requires(C& c, std::span<const op> ops, std::vector<op_result>& r, std::error_code& ec,
             std::span<const std::string> paths, const watch& w, const read_callback& f) {
      { c.multi_then_get_async(ops, r, ec, paths, w, f) };
    };

template <class C>
class coordinator_adapter final : public any_coordinator {
 public:
  explicit coordinator_adapter(std::shared_ptr<C> c) : c_(std::move(c)) {}

  std::string create(std::string_view path, std::string_view data, create_mode mode,
                     const acl_list& acls, dstm::stat* out, std::error_code& ec) override {
    return c_->create(path, data, mode, acls, out, ec);
  }
  node get(std::string_view path, watch w, std::error_code& ec) override {
    return c_->get(path, std::move(w), ec);
  }
  dstm::stat set(std::string_view path, std::string_view data, std::int32_t version,
                 std::error_code& ec) override {
    return c_->set(path, data, version, ec);
  }
  void remove(std::string_view path, std::int32_t version, std::error_code& ec) override {
    c_->remove(path, version, ec);
  }
  std::optional<dstm::stat> exists(std::string_view path, watch w, std::error_code& ec) override {
    return c_->exists(path, std::move(w), ec);
  }
  children_list children(std::string_view path, watch w, std::error_code& ec) override {
    return c_->children(path, std::move(w), ec);
  }
  std::vector<op_result> multi(std::span<const op> ops, std::error_code& ec) override {
    return c_->multi(ops, ec);
  }
  std::vector<get_result> get_many(std::span<const std::string> paths, const watch& w,
                                   std::error_code& ec) override {
    return c_->get_many(paths, w, ec);
  }
  int multi_then_get(std::span<const op> ops, std::vector<op_result>& results,
                     std::error_code& multi_ec, std::span<const std::string> paths, const watch& w,
                     std::vector<get_result>& reads) override {
    if constexpr (pipelines_multi_then_get<C>) {
      c_->multi_then_get(ops, results, multi_ec, paths, w, reads);
      return 1;
    } else {
      results = c_->multi(ops, multi_ec);
      if (multi_ec || paths.empty()) return 1;
      std::error_code ec;
      reads = c_->get_many(paths, w, ec);
      if (ec) reads.clear();
      return 2;
    }
  }
  int multi_then_get_async(std::span<const op> ops, std::vector<op_result>& results,
                           std::error_code& multi_ec, std::span<const std::string> paths,
                           const watch& w, const read_callback& on_read) override {
    if constexpr (pipelines_multi_then_get_async<C>) {
      c_->multi_then_get_async(ops, results, multi_ec, paths, w, on_read);
      return 1;
    } else {
      std::vector<get_result> reads;
      const int trips = multi_then_get(ops, results, multi_ec, paths, w, reads);
      for (std::size_t i = 0; i < paths.size(); ++i) {
        get_result r;
        if (i < reads.size()) {
          r = std::move(reads[i]);
        } else {
          r.ec = multi_ec ? multi_ec : make_error_code(coordinator_errc::runtime_inconsistency);
        }
        on_read(i, std::move(r));
      }
      return trips;
    }
  }
  bool completes_reads_later() const noexcept override { return pipelines_multi_then_get_async<C>; }
  void sync(std::string_view path, std::error_code& ec) override { c_->sync(path, ec); }
  std::int64_t session_id() const override { return c_->session_id(); }
  session_state state() const override { return c_->state(); }
  std::uint64_t subscribe(std::function<void(session_state)> listener) override {
    return c_->subscribe(std::move(listener));
  }
  void unsubscribe(std::uint64_t id) override { c_->unsubscribe(id); }
  void close() override { c_->close(); }
  std::int64_t now() override { return c_->now(); }
  void sleep_for(std::int64_t ns) override { c_->sleep_for(ns); }

  const std::shared_ptr<C>& model() const noexcept { return c_; }

 private:
  std::shared_ptr<C> c_;
};

}  // namespace detail

/// Wraps a model of `dstm::coordinator` as an `any_coordinator`.
template <class C>
std::shared_ptr<any_coordinator> make_any_coordinator(std::shared_ptr<C> c) {
  static_assert(assert_coordinator<C>());
  return std::make_shared<detail::coordinator_adapter<C>>(std::move(c));
}

}  // namespace dstm
