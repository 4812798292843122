// SPDX-License-Identifier: MIT
// Strict JSON reader/writer: what is accepted, what is refused (with the byte offset), round trips.
#include <doctest/doctest.h>

#include <yv9/io/json.hpp>

using yv9::io::Json;
using yv9::io::parse_json;

namespace {

std::string error_of(const std::string& text, const yv9::io::JsonLimits& lim = {}) {
  try {
    parse_json(text, "t.json", lim);
  } catch (const yv9::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("json: values, order and integers") {
  const Json j = parse_json(R"( {"b": [1, -2, 3.5, 1e2, true, false, null], "a": "x", "big": 9007199254740993,
                                "huge": 123456789012345678901234567890, "neg0": -0} )", "t");
  REQUIRE(j.is_object());
  REQUIRE(j.items().size() == 5);
  CHECK(j.items()[0].first == "b");  // insertion order, not sorted
  CHECK(j.items()[1].first == "a");
  const Json::Array& b = j.find("b")->as_array();
  CHECK(b[0].is_integer());
  CHECK(b[0].as_int() == 1);
  CHECK(b[1].as_int() == -2);
  CHECK(!b[2].is_integer());
  CHECK(b[2].as_double() == 3.5);
  CHECK(!b[3].is_integer());  // 1e2 is a number literal with an exponent
  CHECK(b[3].as_double() == 100.0);
  CHECK(b[4].as_bool());
  CHECK(!b[5].as_bool());
  CHECK(b[6].is_null());
  CHECK(j.find("big")->as_int() == 9007199254740993LL);  // not representable as double
  CHECK(!j.find("huge")->is_integer());
  CHECK(j.find("huge")->as_double() == doctest::Approx(1.2345678901234568e29));
  CHECK(j.find("neg0")->as_int() == 0);
  CHECK(j.find("missing") == nullptr);
  CHECK_THROWS_AS(j.find("a")->as_int(), yv9::FormatError);
}

TEST_CASE("json: string escapes and UTF-8") {
  const Json j = parse_json(R"(["\"\\\/\b\f\n\r\t", "\u00e9\u4e2d", "\ud83d\ude00", "é中😀"])", "t");
  const Json::Array& a = j.as_array();
  CHECK(a[0].as_string() == "\"\\/\b\f\n\r\t");
  CHECK(a[1].as_string() == "\xC3\xA9\xE4\xB8\xAD");
  CHECK(a[2].as_string() == "\xF0\x9F\x98\x80");
  CHECK(a[3].as_string() == "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
}

TEST_CASE("json: strict errors carry the label and the byte offset") {
  CHECK(error_of("") == "t.json: invalid JSON at byte 0: unexpected end of input, expected a value");
  CHECK(error_of("[1,]") == "t.json: invalid JSON at byte 3: unexpected character, expected a value");
  CHECK(error_of("{\"a\":1,}") == "t.json: invalid JSON at byte 7: expected a string key");
  CHECK(error_of("[1] x") == "t.json: invalid JSON at byte 4: unexpected data after the JSON value");
  CHECK(error_of("{\"a\":1,\"a\":2}").find("duplicate key \"a\"") != std::string::npos);
  CHECK(error_of("01").find("unexpected data") != std::string::npos);
  CHECK(error_of("1.").find("digit expected after '.'") != std::string::npos);
  CHECK(error_of("1e").find("exponent") != std::string::npos);
  CHECK(error_of("1e999").find("out of range") != std::string::npos);
  CHECK(error_of("NaN").find("expected a value") != std::string::npos);
  CHECK(error_of("\"a\tb\"").find("control character") != std::string::npos);
  CHECK(error_of("\"\\x\"").find("invalid escape") != std::string::npos);
  CHECK(error_of("\"\\ud800\"").find("surrogate") != std::string::npos);
  CHECK(error_of("\"\\udc00\"").find("lone low surrogate") != std::string::npos);
  CHECK(error_of("\"\\ud800\\u0041\"").find("low surrogate") != std::string::npos);
  CHECK(error_of("\"\\u12zz\"").find("hex digit") != std::string::npos);
  CHECK(error_of("\"\\u12").find("truncated") != std::string::npos);
  CHECK(error_of("\"abc").find("unterminated string") != std::string::npos);
  CHECK(error_of("\"\xC0\xAF\"").find("invalid UTF-8") != std::string::npos);      // overlong '/'
  CHECK(error_of("\"\xED\xA0\x80\"").find("invalid UTF-8") != std::string::npos);  // encoded surrogate
  CHECK(error_of("\"\xF4\x90\x80\x80\"").find("invalid UTF-8") != std::string::npos);  // > U+10FFFF
  CHECK(error_of("\xEF\xBB\xBF{}").find("byte 0") != std::string::npos);  // BOM
  CHECK(error_of("tru").find("expected a value") != std::string::npos);
}

TEST_CASE("json: limits") {
  yv9::io::JsonLimits lim;
  lim.max_depth = 3;
  CHECK(error_of("[[[1]]]", lim).empty());
  CHECK(error_of("[[[[1]]]]", lim).find("nesting deeper than 3") != std::string::npos);
  CHECK_THROWS_AS(parse_json("[[[[1]]]]", "t", lim), yv9::LimitError);
  // Default depth limit stops a stack-exhausting input early.
  CHECK_THROWS_AS(parse_json(std::string(100000, '['), "t"), yv9::LimitError);
  lim = {};
  lim.max_bytes = 4;
  CHECK(error_of("[1,2]", lim).find("over the limit of 4") != std::string::npos);
  lim = {};
  lim.max_values = 3;
  CHECK(error_of("[1,2]", lim).empty());
  CHECK(error_of("[1,2,3]", lim).find("more than 3 values") != std::string::npos);
}

TEST_CASE("json: writer escapes and round-trips") {
  Json o = Json::object();
  o.set("s", std::string("q\"b\\n\n\x01\xC3\xA9"))
      .set("i", 42)
      .set("u", std::uint64_t(1) << 40)
      .set("d", 0.001)
      .set("e", 1e-5)
      .set("nan", std::nan(""))
      .set("arr", Json(Json::Array{Json(1), Json("x"), Json(nullptr), Json(true)}));
  o.set("i", 43);  // set replaces in place
  const std::string compact = o.dump();
  CHECK(compact ==
        "{\"s\":\"q\\\"b\\\\n\\n\\u0001\xC3\xA9\",\"i\":43,\"u\":1099511627776,\"d\":0.001,\"e\":1e-05,\"nan\":null,"
        "\"arr\":[1,\"x\",null,true]}");
  const Json back = parse_json(compact, "t");
  CHECK(back.find("s")->as_string() == "q\"b\\n\n\x01\xC3\xA9");
  CHECK(back.find("d")->as_double() == 0.001);
  CHECK(back.find("e")->as_double() == 1e-5);
  CHECK(parse_json(o.dump(2), "t").dump() == compact);
  CHECK(Json::object().dump(2) == "{}");
  CHECK(Json(Json::Array{Json(1)}).dump(2) == "[\n  1\n]");
  // Invalid UTF-8 becomes U+FFFD, so the output stays valid JSON.
  CHECK(yv9::io::json_quote("a\xFF" "b") == "\"a\xEF\xBF\xBD" "b\"");
  CHECK(yv9::io::json_number(640.0) == "640");
  CHECK(yv9::io::json_number(0.1f) == "0.10000000149011612");
}
