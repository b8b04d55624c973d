// Throughput of dstm::binary_serializer and dstm::json_serializer on a typical ref value: a
// document of N line items (strings, a vector of tags) with a label map and a numeric vector.
// Bytes/s counts the encoded size of the model being measured; items/s counts documents.

#include <benchmark/benchmark.h>

#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dstm/serial/binary.hpp"
#include "dstm/serial/json.hpp"

namespace {

struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::string, name), (std::int64_t, quantity), (double, price),
                           (std::vector<std::string>, tags));
};

struct document {
  BOOST_HANA_DEFINE_STRUCT(document, (std::uint64_t, id), (std::string, title),
                           (std::vector<item>, items), (std::map<std::string, std::string>, labels),
                           (std::vector<std::int32_t>, samples));
};

/// The same document on every run: a fixed linear congruential sequence, no seeding.
document make_document(std::size_t items) {
  std::uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&] {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return state >> 33;
  };
  document d;
  d.id = next();
  d.title = "purchase order " + std::to_string(next() % 100000);
  for (std::size_t i = 0; i < items; ++i) {
    item it;
    it.name = "article-" + std::to_string(next() % 1000000) + " premium widget";
    it.quantity = static_cast<std::int64_t>(next() % 1000);
    it.price = static_cast<double>(next() % 100000) / 100;
    for (std::uint64_t t = next() % 4; t > 0; --t)
      it.tags.push_back("tag" + std::to_string(next() % 50));
    d.items.push_back(std::move(it));
  }
  for (std::size_t i = 0; i < items / 4 + 1; ++i) {
    d.labels.emplace("label-" + std::to_string(i), "value " + std::to_string(next()));
  }
  for (std::size_t i = 0; i < items * 4; ++i)
    d.samples.push_back(static_cast<std::int32_t>(next()));
  return d;
}

template <class S>
void encode(benchmark::State& state) {
  const document d = make_document(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    S::encode(d, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["encoded_bytes"] = static_cast<double>(out.size());
}

template <class S>
void decode(benchmark::State& state) {
  const std::string bytes =
      dstm::serial::to_bytes<S>(make_document(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    document d = S::template decode<document>(bytes);
    benchmark::DoNotOptimize(d.items.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["encoded_bytes"] = static_cast<double>(bytes.size());
}

BENCHMARK(encode<dstm::binary_serializer>)->Name("encode/binary")->Arg(10)->Arg(1000);
BENCHMARK(encode<dstm::json_serializer>)->Name("encode/json")->Arg(10)->Arg(1000);
BENCHMARK(decode<dstm::binary_serializer>)->Name("decode/binary")->Arg(10)->Arg(1000);
BENCHMARK(decode<dstm::json_serializer>)->Name("decode/json")->Arg(10)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
