#include <catch2/catch.hpp>

#include "attributes.hpp"

// Message attributes at the edge: SQS's rules, and base64.

using namespace actormq;
using namespace actormq::http;

namespace {

std::optional<std::string> problem_of(std::vector<message_attribute> xs) {
  return attribute_problem(xs);
}

message_attribute attr(std::string name, std::string type,
                       std::string value) {
  return {std::move(name), std::move(type), std::move(value)};
}

} // namespace

TEST_CASE("message attributes keep SQS's rules") {
  CHECK_FALSE(problem_of({}));
  CHECK_FALSE(problem_of({attr("trace", "String", "abc"),
                          attr("n", "Number", "-1.5e3"),
                          attr("n2", "Number.float", "+42"),
                          attr("blob", "Binary", std::string("\0\1", 2)),
                          attr("a.b-c_d", "String.custom", "x")}));
  std::vector<message_attribute> eleven;
  for (int i = 0; i < 11; ++i)
    eleven.push_back(attr("a" + std::to_string(i), "String", "x"));
  CHECK(problem_of(eleven)->find("at most 10") != std::string::npos);
  eleven.pop_back();
  CHECK_FALSE(problem_of(eleven));
  auto refused = [](message_attribute a, const char* fragment) {
    auto p = problem_of({std::move(a)});
    REQUIRE(p);
    INFO(*p);
    CHECK(p->find(fragment) != std::string::npos);
  };
  refused(attr("", "String", "x"), "1-256");
  refused(attr(std::string(257, 'a'), "String", "x"), "1-256");
  refused(attr("a b", "String", "x"), "1-256");
  refused(attr("AWS.x", "String", "x"), "reserves");
  refused(attr("amazon.x", "String", "x"), "reserves");
  refused(attr(".a", "String", "x"), "'..'");
  refused(attr("a.", "String", "x"), "'..'");
  refused(attr("a..b", "String", "x"), "'..'");
  refused(attr("a", "Text", "x"), "type");
  refused(attr("a", "String.", "x"), "type");
  refused(attr("a", "String" + std::string(251, 'x'), "x"), "type");
  refused(attr("a", "String", ""), "empty");
  refused(attr("a", "Number", "12abc"), "number");
  refused(attr("a", "Number", "inf"), "number");
  refused(attr("a", "Number", "+-5"), "number");
  refused(attr("a", "String", "\x01"), "characters");
  refused(attr("a", "String", "\xff"), "characters");
  CHECK(problem_of({attr("a", "String", "x"), attr("a", "Number", "1")})
          ->find("named twice")
        != std::string::npos);
}

TEST_CASE("message text is what SQS takes") {
  CHECK(valid_message_text("hello\t\n\r world"));
  CHECK(valid_message_text("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_message_text(std::string("a\0b", 3)));
  CHECK_FALSE(valid_message_text("\x1f"));
  CHECK_FALSE(valid_message_text("\xef\xbf\xbe")); // U+FFFE
  CHECK_FALSE(valid_message_text("\xed\xa0\x80")); // a surrogate
  CHECK_FALSE(valid_message_text("\xc0\xaf"));     // overlong
}

TEST_CASE("base64 round trips and refuses what is not base64") {
  for (auto x : std::vector<std::string>{"", "f", "fo", "foo", "foob",
                                        "fooba", "foobar",
                                        std::string("\0\xff\x10", 3)})
    CHECK(base64_decode(base64_encode(x)) == x);
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_decode("Zm8=") == std::string{"fo"});
  CHECK_FALSE(base64_decode("Zm8"));
  CHECK_FALSE(base64_decode("Zm8!"));
  CHECK_FALSE(base64_decode("===="));
  CHECK_FALSE(base64_decode("QQ==QQ=="));
  CHECK_FALSE(base64_decode("QQ==\n\n\n\n"));
  CHECK_FALSE(base64_decode("QUJD----"));
  CHECK_FALSE(base64_decode("Q==="));
}
