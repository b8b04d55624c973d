// The JSON-lines reader and the transaction history parser: good input, and clear errors for bad.

#include <gtest/gtest.h>

#include <dstm/check/detail/jsonl.hpp>
#include <dstm/check/isolation/generator.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace dstm::check::test {
namespace {

using detail::json_cursor;
using detail::json_syntax_error;
using detail::line_reader;

std::vector<std::string> lines_of(const std::string& text, std::size_t block) {
  std::istringstream in(text);
  line_reader reader(in, block);
  std::vector<std::string> out;
  std::string_view line;
  while (reader.next(line)) out.emplace_back(line);
  return out;
}

TEST(line_reader, splits_lines_across_block_boundaries) {
  std::string text;
  std::vector<std::string> expected;
  for (int i = 0; i < 100; ++i) {
    expected.push_back(std::string(static_cast<std::size_t>(i * 7 % 150), 'a' + i % 26));
    text += expected.back() + (i % 3 == 0 ? "\r\n" : "\n");
  }
  text += "last line without a newline";
  expected.push_back("last line without a newline");
  for (std::size_t block : {64, 100, 1 << 20}) {
    EXPECT_EQ(lines_of(text, block), expected) << "block " << block;
  }
}

TEST(line_reader, counts_lines) {
  std::istringstream in("a\n\nb\n");
  line_reader reader(in, 64);
  std::string_view line;
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(reader.line_number(), 1u);
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "b");
  EXPECT_EQ(reader.line_number(), 3u);
  EXPECT_FALSE(reader.next(line));
}

TEST(json_cursor, parses_integers_at_the_limits) {
  std::string scratch;
  json_cursor c("[0, -1, 9223372036854775807, -9223372036854775808, 123456789012345678]");
  c.expect('[', "[");
  EXPECT_EQ(c.integer(), 0);
  c.expect(',', ",");
  EXPECT_EQ(c.integer(), -1);
  c.expect(',', ",");
  EXPECT_EQ(c.integer(), INT64_MAX);
  c.expect(',', ",");
  EXPECT_EQ(c.integer(), INT64_MIN);
  c.expect(',', ",");
  EXPECT_EQ(c.integer(), 123456789012345678);
  c.expect(']', "]");
  EXPECT_TRUE(c.at_end());
}

TEST(json_cursor, rejects_bad_integers_with_their_column) {
  for (const char* bad : {"9223372036854775808", "-9223372036854775809", "1.5", "2e3", "-", "x"}) {
    const std::string text = std::string("  ") + bad;
    json_cursor c(text);
    try {
      c.integer();
      ADD_FAILURE() << bad << " was accepted";
    } catch (const json_syntax_error& e) {
      EXPECT_EQ(e.column(), 3u) << bad << ": " << e.what();
    }
  }
}

TEST(json_cursor, decodes_escapes) {
  std::string scratch;
  json_cursor c(R"("plain" "a\"b\\c\/d\n\u00e9\ud83d\ude00")");
  EXPECT_EQ(c.string(scratch), "plain");
  EXPECT_EQ(c.string(scratch), "a\"b\\c/d\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(c.at_end());
}

TEST(json_cursor, skips_any_value) {
  json_cursor c(R"({"a": [1, 2.5e-3, {"b": null}, true, false, "s"], "c": -0.0} 7)");
  c.skip_value();
  EXPECT_EQ(c.integer(), 7);
  EXPECT_TRUE(c.at_end());
}

TEST(json_cursor, rejects_malformed_values) {
  for (const char* bad : {"[1, 2", "{\"a\" 1}", "\"unterminated", "tru", "[1,]", "\"\\x\""}) {
    json_cursor c(bad);
    EXPECT_THROW(c.skip_value(), json_syntax_error) << bad;
  }
}

TEST(json_cursor, keeps_valid_utf8_and_rejects_invalid_utf8_with_its_column) {
  std::string scratch;
  json_cursor ok("\"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(ok.string(scratch), "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_TRUE(ok.at_end());
  // A stray continuation byte, a truncated sequence, an overlong '/', an encoded surrogate.
  for (const char* bad : {"\"ab\x80\"", "\"ab\xC3\"", "\"ab\xC0\xAF\"", "\"ab\xED\xA0\x80\""}) {
    json_cursor c(bad);
    try {
      c.string(scratch);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const json_syntax_error& e) {
      EXPECT_EQ(e.column(), 4u) << bad;
      EXPECT_STREQ(e.what(), "invalid UTF-8 in a string");
    }
  }
}

TEST(json_cursor, follows_the_number_grammar) {
  for (const char* good : {"0", "-0", "12", "-3.25", "1e5", "1E+5", "2.5e-3", "-0.0"}) {
    json_cursor c(good);
    EXPECT_EQ(c.number().text, good);
    EXPECT_TRUE(c.at_end()) << good;
  }
  json_cursor integral("42 1.0");
  EXPECT_TRUE(integral.number().integral);
  EXPECT_FALSE(integral.number().integral);
  for (const char* bad : {"01", "-", "1.", "1e", "1e+", ".5", "-01"}) {
    json_cursor c(bad);
    EXPECT_THROW(c.number(), json_syntax_error) << bad;
    json_cursor i(bad);
    EXPECT_THROW(i.integer(), json_syntax_error) << bad;
  }
}

TEST(json_cursor, rejects_bad_escapes_and_control_characters) {
  std::string scratch;
  for (const char* bad :
       {"\"\\ud83d\"", "\"\\ude00\"", "\"\\u12\"", "\"\\u12G4\"", "\"a\tb\"", "\"abc"}) {
    json_cursor c(bad);
    EXPECT_THROW(c.string(scratch), json_syntax_error) << bad;
  }
}

TEST(line_reader, reads_text_in_memory_and_ends_each_line_with_a_nul) {
  const std::string text = "first\r\n\nthird line\nlast";
  line_reader reader(std::string_view(text), 64);
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.next(line)) {
    EXPECT_EQ(line.data()[line.size()], '\0');
    lines.emplace_back(line);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "", "third line", "last"}));
  EXPECT_EQ(reader.line_number(), 4u);
}

// The reason (and line) of a history that cannot be read.
std::string error_of(const std::string& history, workload w = workload::list_append) {
  try {
    parse_transaction_history(history, w);
  } catch (const isolation_input_error& e) {
    return "line " + std::to_string(e.line()) + ": " + e.reason();
  }
  return "no error";
}

TEST(history_parser, reads_keys_values_and_reads) {
  const std::string h =
      event(0, "invoke", R"([["append", "x", 3], ["r", 7, null]])") +
      R"({"type": "ok", "value": [["append", "x", 3], ["r", 7, [1, 2]]], "f": "txn", "time": 12, "process": 0})"
      "\n";
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  ASSERT_EQ(t.txns().size(), 1u);
  EXPECT_EQ(t.txns()[0].status, txn_status::ok);
  EXPECT_EQ(t.txns()[0].invoke_line, 1u);
  EXPECT_EQ(t.txns()[0].complete_line, 2u);
  const auto ops = t.ops(0);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, op_kind::append);
  EXPECT_EQ(t.key_name(ops[0].key), "x");
  EXPECT_EQ(ops[0].value, 3);
  EXPECT_EQ(t.key_name(ops[1].key), "7");
  const auto list = t.read_list(ops[1]);
  EXPECT_EQ(std::vector<std::int64_t>(list.begin(), list.end()), (std::vector<std::int64_t>{1, 2}));
  EXPECT_NE(t.find_write(ops[0].key, 3), transaction_history::no_write);
  EXPECT_EQ(t.find_write(ops[0].key, 4), transaction_history::no_write);
}

TEST(history_parser, stores_reads_as_prefixes_of_one_branch) {
  const std::string h = txn(0, R"([["append", "x", 1]])") + txn(0, R"([["append", "x", 2]])") +
                        txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])") +
                        txn(1, R"([["r", "x", null]])", R"([["r", "x", [1, 2]]])") +
                        txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])");
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  EXPECT_EQ(t.branches().size(), 1u);
  EXPECT_EQ(t.branches()[0].elements, (std::vector<std::int64_t>{1, 2}));
}

TEST(history_parser, names_the_line_and_reason_of_bad_input) {
  const std::string ok_txn = txn(0, R"([["append", "x", 1]])");
  EXPECT_EQ(error_of(ok_txn + "{\"process\": 1, \"type\": \"invoke\""),
            "line 3: column 32: expected ',' or '}' in the event object");
  EXPECT_EQ(error_of(ok_txn + "[1]\n"),
            "line 3: column 1: expected a JSON object (one event per line)");
  EXPECT_EQ(error_of(event(0, "ok", R"([["append", "x", 1]])")),
            "line 1: process 0 completed a transaction it never invoked (every transaction needs "
            "an invoke event first)");
  EXPECT_EQ(error_of(event(0, "invoke", "[]") + event(0, "invoke", "[]")),
            "line 2: process 0 invoked a transaction while its transaction invoked at line 1 is "
            "still pending");
  EXPECT_EQ(error_of(ok_txn + txn(1, R"([["append", "x", 1]])")),
            "line 3: value 1 is written to key x twice (first by the transaction invoked at line "
            "1); the checker needs every written value to be unique per key");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["w", "x", 1]])")),
            "line 1: column 57: micro-op \"w\" does not belong in a list-append history (use "
            "--workload rw-register)");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["append", "x", 1]])"), workload::rw_register),
            "line 1: column 57: micro-op \"append\" does not belong in an rw-register history "
            "(use --workload list-append)");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["append", "x", 1.5]])")),
            "line 1: column 72: expected an integer, found a fractional number");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["append", "x", 1]])") +
                     event(0, "ok", R"([["append", "x", 2]])")),
            "line 2: micro-op 1 of the ok completion differs from its invoke (line 1)");
  EXPECT_EQ(error_of(R"({"process": 0, "f": "txn", "value": []})"), "line 1: missing \"type\"");
  EXPECT_EQ(error_of(R"({"process": 0, "type": "done", "f": "txn"})"),
            "line 1: column 24: \"type\" must be invoke, ok, fail or info, not \"done\"");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["r", "x", 3]])")),
            "line 1: column 67: expected a list-append read to return a list of integers or null");
  EXPECT_EQ(error_of(event(0, "invoke", R"([["cas", "x", 3]])")),
            "line 1: column 57: unknown micro-op \"cas\" (expected \"r\", \"append\" or \"w\")");
}

TEST(history_parser, accepts_value_before_f_and_blank_lines) {
  const std::string h =
      "\n" +
      std::string(R"({"value": [["w", 1, 5]], "process": 2, "type": "invoke", "f": "txn"})") +
      "\n\n" + R"({"value": [["w", 1, 5]], "process": 2, "type": "ok", "f": "txn"})" + "\n";
  const transaction_history t = parse_transaction_history(h, workload::rw_register);
  ASSERT_EQ(t.txns().size(), 1u);
  EXPECT_EQ(t.txns()[0].invoke_line, 2u);
  EXPECT_EQ(t.txns()[0].complete_line, 4u);
  EXPECT_EQ(t.txns()[0].status, txn_status::ok);
}

TEST(history_parser, decodes_escaped_and_unicode_keys) {
  // "\u0078" is "x", and "\u00e9" is "é" written in UTF-8: the same keys either way.
  const std::string h = txn(0, R"([["append", "x", 1], ["append", "\u00e9", 2]])",
                            R"([["append", "\u0078", 1], ["append", "é", 2]])") +
                        txn(1, R"([["r", "k\"e\\y\n", null], ["append", "k\"e\\y\n", 5]])",
                            R"([["r", "k\u0022e\u005cy\u000a", []], ["append", "k\"e\\y\n", 5]])");
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  EXPECT_EQ(t.key_count(), 3u);
  EXPECT_EQ(t.key_name(t.ops(0)[0].key), "x");
  EXPECT_EQ(t.key_name(t.ops(0)[1].key), "\xC3\xA9");
  EXPECT_EQ(t.key_name(t.ops(1)[0].key), "k\"e\\y\n");
  EXPECT_EQ(t.ops(1)[0].key, t.ops(1)[1].key);
}

TEST(history_parser, accepts_any_whitespace_and_escaped_field_names) {
  const std::string h =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]]}\r\n"
      "\t{ \"\\u0070rocess\" : 0 ,\t\"type\" :\"o\\u006b\", \"f\": \"t\\u0078n\" ,"
      " \"value\" : [ [ \"append\" , \"x\" , 1 ] ] }  \r\n";
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  ASSERT_EQ(t.txns().size(), 1u);
  EXPECT_EQ(t.txns()[0].status, txn_status::ok);
  EXPECT_EQ(t.txns()[0].complete_line, 2u);
}

TEST(history_parser, keeps_integer_and_string_keys_apart) {
  const std::string h = txn(0, R"([["append", 1, 1], ["append", "1", 1], ["append", -7, 1]])") +
                        txn(1, R"([["append", 9223372036854775807, 1]])");
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  EXPECT_EQ(t.key_count(), 4u);
  EXPECT_NE(t.ops(0)[0].key, t.ops(0)[1].key);
  EXPECT_EQ(t.key_name(t.ops(0)[0].key), "1");
  EXPECT_EQ(t.key_name(t.ops(0)[2].key), "-7");
  EXPECT_EQ(t.key_name(t.ops(1)[0].key), "9223372036854775807");
}

TEST(history_parser, names_the_line_and_column_of_malformed_lines) {
  const std::string ok_txn = txn(0, R"([["append", "x", 1]])");
  // Line 4 (after a blank line): a key with a stray UTF-8 continuation byte.
  EXPECT_EQ(error_of(ok_txn + "\n" + event(1, "invoke", "[[\"append\", \"a\x80\", 1]]")),
            "line 4: column 69: invalid UTF-8 in a string");
  EXPECT_EQ(error_of(ok_txn + "\r\n" + event(1, "invoke", R"([["append", "a\q", 1]])")),
            "line 4: column 69: invalid escape in a string");
  EXPECT_EQ(error_of(event(1, "invoke", R"([["append", 01, 1]])")),
            "line 1: column 67: a number with a leading zero");
  EXPECT_EQ(error_of(event(1, "invoke", R"([["append", "x", 1],]])")),
            "line 1: column 75: expected a micro-op such as [\"r\", \"x\", null]");
  EXPECT_EQ(error_of(event(1, "invoke", R"([["append", "x", 1]])") +
                     event(1, "ok", R"([["r", "x", [1 2]]])")),
            "line 2: column 66: expected ',' or ']' in a read's list");
  EXPECT_EQ(error_of(ok_txn + R"({"process": 0, "type": "invoke"} x)"),
            "line 3: column 34: unexpected characters after the event object");
  EXPECT_EQ(
      error_of(ok_txn +
               R"({"process": 0, "type": "invoke", "f": "txn", "value": [["append", 1.5e3, 1]]})"),
      "line 3: column 67: expected an integer, found a fractional number");
}

TEST(history_parser, reads_lists_of_any_integers_and_spacing) {
  std::string appends = "[";
  std::string read = "[";
  const std::vector<std::int64_t> values = {1, 0, 7, 42, 123, 99, 10, -1, -42, 9223372036854775807};
  for (std::size_t i = 0; i < values.size(); ++i) {
    appends +=
        (i ? ", " : "") + std::string("[\"append\", \"x\", ") + std::to_string(values[i]) + "]";
    read += (i == 0       ? ""
             : i % 3 == 0 ? " ,\t"
             : i % 3 == 1 ? ","
                          : ", ") +
            std::to_string(values[i]);
  }
  const std::string h =
      txn(0, appends + "]") + txn(1, R"([["r", "x", null]])", "[[\"r\", \"x\", " + read + " ]]]");
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  const auto list = t.read_list(t.ops(1)[0]);
  EXPECT_EQ(std::vector<std::int64_t>(list.begin(), list.end()), values);
  for (const auto& [bad, reason] : std::vector<std::pair<std::string, std::string>>{
           {"[1.5]", "column 64: expected an integer, found a fractional number"},
           {"[12e3]", "column 64: expected an integer, found a fractional number"},
           {"[3, 01]", "column 67: a number with a leading zero"},
           {"[7, 8 9]", "column 69: expected ',' or ']' in a read's list"}}) {
    EXPECT_EQ(error_of(event(0, "invoke", R"([["r", "x", null]])") +
                       event(0, "ok", "[[\"r\", \"x\", " + bad + "]]")),
              "line 2: " + reason)
        << bad;
  }
}

TEST(history_parser, reads_lines_whose_lists_outgrow_the_buffer) {
  // More list elements in one line than the parser's buffer first holds (256).
  std::string appends = "[";
  for (int i = 1; i <= 300; ++i) {
    appends += (i > 1 ? ", " : "") + std::string("[\"append\", \"x\", ") + std::to_string(i) + "]";
  }
  std::string list = "[";
  for (int i = 1; i <= 300; ++i) list += (i > 1 ? ", " : "") + std::to_string(i);
  list += "]";
  const std::string h =
      txn(0, appends + "]") + txn(1, R"([["r", "x", null], ["r", "x", null]])",
                                  "[[\"r\", \"x\", " + list + "], [\"r\", \"x\", " + list + "]]");
  const transaction_history t = parse_transaction_history(h, workload::list_append);
  for (const micro_op& op : t.ops(1)) {
    const auto l = t.read_list(op);
    ASSERT_EQ(l.size(), 300u);
    EXPECT_EQ(l.front(), 1);
    EXPECT_EQ(l.back(), 300);
  }
  EXPECT_EQ(check_isolation(t).verdict, isolation_verdict::valid);
}

TEST(history_parser, reads_every_truncation_of_a_line_to_its_very_end) {
  // A last line without a newline ends the reader's buffer right after its terminating '\0',
  // so under AddressSanitizer a scanner that read past the '\0' fails here.
  const std::string invoke = event(0, "invoke", R"([["r", "x", null], ["append", "y", 12]])");
  const std::string ok = event(0, "ok", R"([["r", "x", [1, 23, -4]], ["append", "y", 12]])");
  const std::string last = ok.substr(0, ok.size() - 1) + " \"\\u00e9\xC3\xA9\" 1.5e3 tru";
  for (std::size_t n = 0; n < last.size(); ++n) {
    const std::string h = invoke + last.substr(0, n);
    const std::string error = error_of(h);
    if (n == 0 || n == ok.size() - 1 || n == ok.size()) {  // nothing, or the line (and a space)
      EXPECT_EQ(error, "no error") << n;
    } else {
      EXPECT_EQ(error.rfind("line 2: ", 0), 0u) << n << ": " << error;
    }
  }
}

TEST(history_parser, stream_and_string_readers_agree) {
  const std::string h =
      txn(0, R"([["append", "x", 1]])") + txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])");
  std::istringstream in(h);
  const transaction_history a = read_transaction_history(in, workload::list_append);
  const transaction_history b = parse_transaction_history(h, workload::list_append);
  EXPECT_EQ(a.txns().size(), b.txns().size());
  EXPECT_EQ(a.ops().size(), b.ops().size());
  EXPECT_EQ(check_isolation(a).verdict_line(), check_isolation(b).verdict_line());
}

// ---- The parallel stream reader: blocks scanned ahead by a second thread ----

// Everything the reader decides, as text: two histories with equal dumps are the same history.
std::string dump(const transaction_history& h) {
  std::ostringstream out;
  out << h.txns().size() << " txns, " << h.key_count() << " keys, " << h.skipped_events()
      << " skipped\n";
  for (const txn_record& t : h.txns()) {
    out << t.process << ' ' << t.first_op << ' ' << t.op_count << ' ' << t.invoke_line << ' '
        << t.complete_line << ' ' << static_cast<int>(t.status) << '\n';
  }
  for (const micro_op& op : h.ops()) {
    out << op.value << ' ' << op.key << '=' << h.key_name(op.key) << ' '
        << static_cast<int>(op.kind) << op.known << op.nil << '\n';
  }
  for (std::uint32_t t : h.completion_order()) out << t << ' ';
  out << '\n';
  for (const write_record& w : h.writes()) {
    out << w.key << ' ' << w.value << ' ' << w.txn << ' ' << w.op << w.final_write << '\n';
  }
  for (const list_branch& b : h.branches()) {
    out << b.key << ' ' << b.witness << ' ' << b.next_of_key << ':';
    for (std::int64_t x : b.elements) out << ' ' << x;
    out << '\n';
  }
  return out.str();
}

transaction_history read_in_blocks(const std::string& text, workload w, std::size_t block) {
  std::istringstream in(text);
  return detail::read_stream(in, w, text.size(), block);
}

std::string error_in_blocks(const std::string& text, std::size_t block,
                            workload w = workload::list_append) {
  try {
    read_in_blocks(text, w, block);
  } catch (const isolation_input_error& e) {
    return "line " + std::to_string(e.line()) + ": " + e.reason();
  }
  return "no error";
}

// A generated history (fails, infos, retired processes) with, every few lines, what the
// generator never writes: string keys with escapes, a nemesis, an event of another `f`, "\r\n",
// blank lines, a line far longer than the smallest block, and no '\n' after the last line.
std::string varied_history(workload w) {
  history_generator_options o;
  o.kind = w;
  o.transactions = 600;
  o.fail_percent = 10;
  o.info_percent = 5;
  history_generator gen(o, 7);
  std::ostringstream out;
  generated_event e;
  const char* write = w == workload::list_append ? "append" : "w";
  for (int i = 0; gen.next(e); ++i) {
    write_generated_event(out, e, w);
    if (i % 37 == 5) {
      const std::string ops = "[[\"" + std::string(write) + "\", \"s\\\"" + std::to_string(i) +
                              "\", 1], [\"r\", \"s\\u00e9\", null]]";
      out << event(1000 + i, "invoke", ops) << event(1000 + i, "info", ops);
    }
    if (i % 53 == 11)
      out << R"({"process": "nemesis", "type": "info", "f": "start"})"
          << "\n";
    if (i % 61 == 3)
      out << R"({"process": 3, "type": "ok", "f": "read", "value": 1})"
          << "\r\n";
    if (i % 71 == 9) out << "\n\n";
    if (i % 97 == 13) {
      out << event(2000 + i, "invoke", R"([["r", "pad", null]])");
      out << "{\"process\": " << 2000 + i
          << ", \"type\": \"fail\", \"f\": \"txn\", \"value\": null, "
          << "\"padding\": \"" << std::string(300, 'p') << "\"}\n";
    }
  }
  std::string text = out.str();
  text.pop_back();
  return text;
}

TEST(parallel_reader, builds_the_history_one_thread_builds) {
  for (workload w : {workload::list_append, workload::rw_register}) {
    const std::string text = varied_history(w);
    const transaction_history one = parse_transaction_history(text, w);
    ASSERT_GT(one.txns().size(), 600u);
    ASSERT_GT(one.skipped_events(), 0u);
    const std::string expected = dump(one);
    const std::string verdict = check_isolation(one).report();
    // 64 and 100: (nearly) a block per line, both threads busy; 1 << 20: one block, no thread.
    for (std::size_t block : {64, 100, 1000, 4096, 1 << 20}) {
      const transaction_history two = read_in_blocks(text, w, block);
      EXPECT_EQ(dump(two), expected) << "block " << block;
      EXPECT_EQ(check_isolation(two).report(), verdict) << "block " << block;
    }
  }
}

TEST(parallel_reader, reads_empty_and_blank_input) {
  for (const char* text : {"", "\n", "\n\r\n\n", "  "}) {
    EXPECT_EQ(read_in_blocks(text, workload::list_append, 64).txns().size(), 0u) << text;
  }
}

// Two malformed lines in different blocks: the first in file order is reported, with its line
// and column, though the other thread may have scanned the second before the first was reached.
TEST(parallel_reader, reports_the_first_error_in_file_order) {
  history_generator_options o;
  o.transactions = 1500;
  history_generator gen(o, 11);
  std::vector<std::string> lines;
  generated_event e;
  while (gen.next(e)) {
    std::ostringstream out;
    write_generated_event(out, e, workload::list_append);
    lines.push_back(out.str());
  }
  const std::string syntax = R"({"process": 1, "type": "ok", "f": "txn", "value": [["r", 1, ]]})"
                             "\n";
  const std::string never_invoked = event(999, "ok", "[]");
  const std::string wrong_op = event(998, "invoke", R"([["w", 1, 2]])");
  struct plant {
    std::size_t line;  // 1-based, in the history with the planted lines
    std::string text;
  };
  const std::vector<std::vector<plant>> cases = {
      {{1200, syntax}},
      {{700, syntax}, {702, syntax}},
      {{700, never_invoked}, {701, syntax}},
      {{700, syntax}, {703, never_invoked}},
      {{900, wrong_op}, {905, syntax}},
      {{40, never_invoked}, {2900, syntax}},
      {{2, syntax}, {2500, wrong_op}},
  };
  for (const std::vector<plant>& planted : cases) {
    std::vector<std::string> with = lines;
    for (const plant& p : planted)
      with.insert(with.begin() + static_cast<long>(p.line - 1), p.text);
    std::string text;
    for (const std::string& l : with) text += l;
    const std::string expected = error_of(text);
    ASSERT_EQ(expected.rfind("line " + std::to_string(planted[0].line) + ": ", 0), 0u) << expected;
    for (std::size_t block : {64, 200, 1000, 4096, 1 << 16}) {
      for (int run = 0; run < 5; ++run) {
        EXPECT_EQ(error_in_blocks(text, block), expected) << "block " << block;
      }
    }
  }
}

}  // namespace
}  // namespace dstm::check::test
