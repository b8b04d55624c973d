// The history format: reading, writing, errors with line numbers, and the recorder.

#include <gtest/gtest.h>

#include <dstm/check/history.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using dstm::check::event;
using dstm::check::event_type;
using dstm::check::history;
using dstm::check::history_error;
using dstm::check::parse_history;

std::string error_of(std::string_view text) {
  try {
    parse_history(text);
  } catch (const history_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(History, ReadsTheIssueFormat) {
  const history h = parse_history(
      "{\"process\": 3, \"type\": \"invoke\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 4]}\n"
      "{\"process\": 3, \"type\": \"ok\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 4], "
      "\"time\": 1500}\n"
      "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n"
      "{\"process\": 0, \"type\": \"info\", \"f\": \"read\"}\n");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].process, 3);
  EXPECT_EQ(h[0].type, event_type::invoke);
  EXPECT_EQ(h[0].f, "cas");
  EXPECT_EQ(h[0].key, "x");
  EXPECT_EQ(h[0].value, nlohmann::json::array({1, 4}));
  EXPECT_EQ(h[0].time, 0);
  EXPECT_EQ(h[1].type, event_type::ok);
  EXPECT_EQ(h[1].time, 1500);
  EXPECT_EQ(h[2].key, "");
  EXPECT_TRUE(h[3].value.is_null());
  EXPECT_EQ(h[3].type, event_type::info);
}

TEST(History, WritesExactlyTheIssueShape) {
  history h{event{3, event_type::invoke, "cas", "x", nlohmann::json::array({1, 4}), 0},
            event{3, event_type::ok, "cas", "", nlohmann::json::array({1, 4}), 7},
            event{1, event_type::invoke, "read", "", nullptr, 0}};
  std::ostringstream out;
  dstm::check::write_history(out, h);
  EXPECT_EQ(
      out.str(),
      "{\"process\": 3, \"type\": \"invoke\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 4]}\n"
      "{\"process\": 3, \"type\": \"ok\", \"f\": \"cas\", \"value\": [1, 4], \"time\": 7}\n"
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n");
}

TEST(History, RoundTripsOddValuesThroughBothParsers) {
  // Escapes, unicode, floats, objects and negative numbers take the slow path; the rest the
  // fast one. Both must give what write_history wrote.
  history h{
      event{-2, event_type::invoke, "write", "k\"ey\n",
            nlohmann::json::parse(R"({"b": [1.5, -3], "a": "é\t"})"), 0},
      event{-2, event_type::fail, "write", "k\"ey\n", nlohmann::json(-7), 9},
      event{5, event_type::invoke, "add", "",
            nlohmann::json::parse(R"([[], [null, true, false], "s"])"), 1},
      event{5, event_type::ok, "add", "", nlohmann::json(18446744073709551615ULL), 2},
  };
  std::ostringstream out;
  dstm::check::write_history(out, h);
  EXPECT_EQ(parse_history(out.str()), h);
}

TEST(History, FastAndSlowPathsAgree) {
  // The same event, once in the common shape and once with an escape that forces nlohmann.
  const history fast = parse_history(
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"w\", \"value\": [0, 12, -3]}\n");
  const history slow = parse_history(
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"\\u0077\", \"value\": [0, 12, -3]}\n");
  EXPECT_EQ(fast, slow);
  EXPECT_EQ(fast[0].value.type(), slow[0].value.type());
  EXPECT_EQ(std::hash<nlohmann::json>{}(fast[0].value), std::hash<nlohmann::json>{}(slow[0].value));
}

TEST(History, AcceptsJepsenExtrasAndIntegerKeys) {
  const history h = parse_history(
      "{\"index\": 0, \"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"key\": 7}\n"
      "{\"index\": 1, \"process\": 1, \"type\": \"fail\", \"f\": \"read\", \"key\": 7, "
      "\"error\": {\"why\": \"timeout\"}}\n\n\n");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].key, "7");
}

TEST(History, ErrorsNameTheLineAndTheReason) {
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\"}\n{\"process\": 1,"),
            "line 2: invalid JSON: column 15: expected an object key (a string)");
  EXPECT_EQ(error_of("[1, 2]"), "line 1: expected a JSON object, found array");
  EXPECT_EQ(error_of("{\"type\": \"invoke\", \"f\": \"read\"}"),
            "line 1: missing field \"process\"");
  EXPECT_EQ(error_of("{\"process\": \"nemesis\", \"type\": \"invoke\", \"f\": \"read\"}"),
            "line 1: field \"process\" must be an integer, found the string \"nemesis\"");
  EXPECT_EQ(error_of("{\"process\": 1.5, \"type\": \"invoke\", \"f\": \"read\"}"),
            "line 1: field \"process\" must be an integer, found the number 1.5");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"done\", \"f\": \"read\"}"),
            "line 1: field \"type\" must be invoke, ok, fail or info, found \"done\"");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"ok\", \"f\": \"\"}"),
            "line 1: field \"f\" must be a non-empty string, found the string \"\"");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"time\": -1}"),
            "line 1: field \"time\" must not be negative");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"key\": [1]}"),
            "line 1: field \"key\" must be a string or an integer, found array");
}

TEST(History, DecodesEscapesAndUnicodeInEveryString) {
  const history h = parse_history(
      "{\"process\": 1, \"type\": \"\\u0069nvoke\", \"f\": \"w\\u0072ite\", \"key\": "
      "\"k\\\"\\u00e9\\ud83d\\ude00\", "
      "\"value\": \"a\\tb\\/c\"}\n"
      "{\"\\u0070rocess\": 1, \"type\": \"ok\", \"f\": \"write\", \"key\": "
      "\"k\\\"\xC3\xA9\xF0\x9F\x98\x80\", "
      "\"value\": \"a\\tb/c\"}\n");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].type, event_type::invoke);
  EXPECT_EQ(h[0].f, "write");
  EXPECT_EQ(h[0].key, "k\"\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(h[1].key, h[0].key);
  EXPECT_EQ(h[0].value, "a\tb/c");
}

TEST(History, AcceptsAnyWhitespace) {
  const history h = parse_history(
      "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\r\n"
      "\t{ \"process\" : 1 ,\t\"type\" : \"ok\" , \"f\" : \"read\" , \"value\" : [ 1 , { } ] }  "
      "\r\n");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1].value, nlohmann::json::parse("[1, {}]"));
}

TEST(History, NamesIntegerKeysByTheirDecimalForm) {
  const history h = parse_history(
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"key\": -3}\n"
      "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"key\": \"-3\"}\n"
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"key\": null}\n"
      "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\"}\n");
  EXPECT_EQ(h[0].key, "-3");
  EXPECT_EQ(h[2].key, "");
}

TEST(History, TypesValuesAsNlohmannDoes) {
  // The reader builds values itself; they must equal (and hash like) nlohmann's own parse.
  for (const char* text : {"0",
                           "-0",
                           "17",
                           "-17",
                           "9223372036854775807",
                           "9223372036854775808",
                           "18446744073709551615",
                           "18446744073709551616",
                           "-9223372036854775808",
                           "-9223372036854775809",
                           "1.5",
                           "-2.5e-3",
                           "1e-400",
                           "0.5e+2",
                           "true",
                           "false",
                           "null",
                           "\"\"",
                           "\"\\u00e9\"",
                           "[]",
                           "{}",
                           "{\"b\": [1, {\"c\": null}], \"a\": \"x\", \"b\": 2}",
                           "[[[[1]]], -1, 0.0]"}) {
    const std::string line =
        std::string("{\"process\": 1, \"type\": \"invoke\", \"f\": \"x\", \"value\": ") + text +
        "}";
    const history h = parse_history(line);
    const nlohmann::json want = nlohmann::json::parse(text);
    EXPECT_EQ(h[0].value, want) << text;
    EXPECT_EQ(h[0].value.type(), want.type()) << text;
    EXPECT_EQ(std::hash<nlohmann::json>{}(h[0].value), std::hash<nlohmann::json>{}(want)) << text;
  }
}

TEST(History, MalformedLinesNameTheLineAndColumn) {
  const std::string inv = "{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\"}\n";
  const std::string ok = "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\"}\n";
  EXPECT_EQ(error_of(inv + ok + "{\"process\": 1, \"type\": \"invoke\", \"f\": \"r\x80\"}\n"),
            "line 3: invalid JSON: column 41: invalid UTF-8 in a string");
  EXPECT_EQ(error_of(inv + "{\"process\": 01, \"type\": \"ok\", \"f\": \"read\"}\n"),
            "line 2: invalid JSON: column 13: a number with a leading zero");
  EXPECT_EQ(error_of(inv + "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\"} 5\n"),
            "line 2: invalid JSON: column 43: unexpected characters after the JSON value");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": [1,]}"),
            "line 1: invalid JSON: column 59: expected a JSON value");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": [1E400]}"),
            "line 1: invalid JSON: column 57: number out of range");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": "
                     "-1e99999999999999999999}"),
            "line 1: invalid JSON: column 56: number out of range");
  EXPECT_EQ(
      error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": \"a\\x\"}"),
      "line 1: invalid JSON: column 58: invalid escape in a string");
  EXPECT_EQ(error_of("{\"process\": null, \"type\": \"invoke\", \"f\": \"read\"}"),
            "line 1: field \"process\" must be an integer, found null");
  EXPECT_EQ(error_of("{\"process\": 18446744073709551615, \"type\": \"invoke\", \"f\": \"read\"}"),
            "line 1: field \"process\" is out of range");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": null, \"f\": \"read\"}"),
            "line 1: field \"type\" must be a string, found null");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"time\": 1e3}"),
            "line 1: field \"time\" must be an integer, found the number 1000.0");
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"key\": 1.5}"),
            "line 1: field \"key\" must be a string or an integer, found the number 1.5");
  EXPECT_EQ(error_of("\"just a string\""),
            "line 1: expected a JSON object, found the string "
            "\"just a string\"");
}

TEST(History, ReadsEveryTruncationOfALineToItsVeryEnd) {
  // As for transaction histories: under AddressSanitizer, a read past a last line's '\0' fails.
  const std::string line =
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"cas\", \"key\": \"k\\u00e9\xC3\xA9\", "
      "\"value\": [-1.5e-3, 20, {\"a\": [true, false, null]}, \"\\ud83d\\ude00\"]}";
  for (std::size_t n = 1; n <= line.size(); ++n) {
    const std::string prefix = line.substr(0, n);
    if (n == line.size()) {
      EXPECT_NO_THROW(parse_history(prefix));
    } else if (prefix.find_first_not_of(" ") != std::string::npos) {
      EXPECT_EQ(error_of(prefix).rfind("line 1: ", 0), 0u) << n;
    }
  }
}

TEST(History, TheLastOfADuplicatedFieldWins) {
  const history h = parse_history(
      "{\"process\": 1, \"type\": \"ok\", \"type\": \"invoke\", \"f\": 5, \"f\": \"read\"}\n");
  EXPECT_EQ(h[0].type, event_type::invoke);
  EXPECT_EQ(h[0].f, "read");
}

TEST(History, ErrorsOnBrokenPairing) {
  const std::string inv = "{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\"}\n";
  EXPECT_EQ(error_of("{\"process\": 1, \"type\": \"ok\", \"f\": \"read\"}\n"),
            "line 1: process 1 completes (ok) an operation it never invoked");
  EXPECT_EQ(error_of(inv + inv),
            "line 2: process 1 invokes an operation while its operation of line 1 is still "
            "pending");
  EXPECT_EQ(error_of(inv + "{\"process\": 1, \"type\": \"ok\", \"f\": \"write\"}\n"),
            "line 2: process 1 completes \"write\" but invoked \"read\" on line 1");
  EXPECT_EQ(error_of(inv + "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"key\": \"a\"}\n"),
            "line 2: process 1 completes on key \"a\" but invoked on key \"\" on line 1");
  EXPECT_EQ(error_of(inv + "\n" + inv),
            "line 2: blank line inside the history (only trailing ones are allowed)");
}

TEST(History, ErrorCarriesLineAndReason) {
  try {
    parse_history("{\"process\": 1, \"type\": \"invoke\", \"f\": \"read\"}\n[]\n");
    FAIL() << "no error";
  } catch (const history_error& e) {
    EXPECT_EQ(e.line(), 2u);
    EXPECT_EQ(e.reason(), "expected a JSON object, found array");
    EXPECT_EQ(e.code(), dstm::errc::invalid_argument);
  }
}

TEST(Recorder, RecordsInCallOrderAndWritesTheFormat) {
  dstm::check::recorder r;
  r.invoke(1, "write", "x", 5, 100);
  r.invoke(2, "read", "x", nullptr, 110);
  r.complete(1, event_type::ok, "write", "x", 5, 120);
  r.complete(2, event_type::ok, "read", "x", 5, 130);
  const history h = r.events();
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[2], (event{1, event_type::ok, "write", "x", 5, 120}));
  std::ostringstream out;
  r.write(out);
  EXPECT_EQ(parse_history(out.str()), h);
}

TEST(Recorder, RefusesMisuseAndRecordsNothing) {
  dstm::check::recorder r;
  EXPECT_THROW(r.complete(1, event_type::ok, "read", "", nullptr), history_error);
  r.invoke(1, "read", "", nullptr);
  EXPECT_THROW(r.invoke(1, "read", "", nullptr), history_error);
  EXPECT_THROW(r.complete(1, event_type::invoke, "read", "", nullptr), history_error);
  EXPECT_THROW(r.complete(1, event_type::ok, "write", "", nullptr), history_error);
  EXPECT_EQ(r.events().size(), 1u);
  r.complete(1, event_type::info, "read", "", nullptr);
  EXPECT_EQ(r.events().size(), 2u);
}

TEST(Recorder, IsThreadSafe) {
  dstm::check::recorder r;
  constexpr int threads = 4, ops = 500;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&r, t] {
      for (int i = 0; i < ops; ++i) {
        r.invoke(t, "add", "c", 1);
        r.complete(t, event_type::ok, "add", "c", 1);
      }
    });
  for (auto& w : workers) w.join();
  const history h = r.events();
  ASSERT_EQ(h.size(), static_cast<std::size_t>(2 * threads * ops));
  std::ostringstream out;
  r.write(out);
  EXPECT_NO_THROW(parse_history(out.str()));  // the pairing rules hold in the recorded order
}

}  // namespace
