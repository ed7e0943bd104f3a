#include <catch2/catch.hpp>

#include <caf/sec.hpp>

#include "actormq/errors.hpp"
#include "json_api.hpp"

using namespace actormq;
using namespace actormq::http;

namespace {

constexpr std::string_view json_type = "application/json";

payload ok(std::variant<payload, problem> x) {
  REQUIRE(std::holds_alternative<payload>(x));
  return std::get<payload>(x);
}

problem failed(std::variant<payload, problem> x) {
  REQUIRE(std::holds_alternative<problem>(x));
  return std::get<problem>(x);
}

} // namespace

TEST_CASE("a JSON string message is text; other values are compact JSON") {
  auto text = ok(parse_enqueue(json_type, R"({"message":"hi \"you\""})"));
  CHECK(text.body == R"(hi "you")");
  CHECK(text.kind == payload_kind::text);
  auto number = ok(parse_enqueue(json_type, R"({"message": 42})"));
  CHECK(number.body == "42");
  CHECK(number.kind == payload_kind::json);
  auto object = ok(parse_enqueue("application/json; charset=utf-8",
                                 R"({"message": {"a": [1, 2]}})"));
  CHECK(object.body == R"({"a":[1,2]})");
  CHECK(ok(parse_enqueue(json_type, R"({"message": false})")).body
        == "false");
  CHECK(ok(parse_enqueue("application/vnd.api+json", R"({"message":"x"})"))
          .body
        == "x");
}

TEST_CASE("a missing, null or empty message is required") {
  CHECK(failed(parse_enqueue(json_type, "{}")) == problem::message_required);
  CHECK(failed(parse_enqueue(json_type, R"({"message":null})"))
        == problem::message_required);
  // "" passes the parser; the queue refuses an empty body.
  CHECK(ok(parse_enqueue(json_type, R"({"message":""})")).body.empty());
  CHECK(failed(parse_enqueue("", "")) == problem::message_required);
  CHECK(failed(parse_enqueue("application/x-www-form-urlencoded", "a=1"))
        == problem::message_required);
  CHECK(failed(parse_enqueue("application/x-www-form-urlencoded",
                             "message="))
        == problem::message_required);
}

TEST_CASE("bad bodies get their own problem") {
  CHECK(failed(parse_enqueue(json_type, R"({"message":)"))
        == problem::malformed_json);
  CHECK(failed(parse_enqueue(json_type, "")) == problem::malformed_json);
  CHECK(failed(parse_enqueue(json_type, R"(["message"])"))
        == problem::not_an_object);
  CHECK(failed(parse_enqueue(json_type, R"("message")"))
        == problem::not_an_object);
  CHECK(failed(parse_enqueue(json_type, "{\"message\":\"\xff\"}"))
        == problem::invalid_utf8);
  CHECK(failed(parse_enqueue("text/plain", "hello"))
        == problem::unsupported_media_type);
  CHECK(failed(parse_enqueue("", "message=x"))
        == problem::unsupported_media_type);
  CHECK(failed(parse_enqueue("application/x-www-form-urlencoded",
                             "message=%zz"))
        == problem::malformed_form);
  CHECK(failed(parse_enqueue("application/x-www-form-urlencoded",
                             "message=%4"))
        == problem::malformed_form);
  CHECK(failed(parse_enqueue("application/x-www-form-urlencoded",
                             "message=%ff"))
        == problem::invalid_utf8);
}

TEST_CASE("form bodies are decoded") {
  auto x = ok(parse_enqueue("Application/X-WWW-Form-Urlencoded",
                            "other=1&message=hello+w%C3%B6rld%21&message=2"));
  CHECK(x.body == "hello wörld!");
  CHECK(x.kind == payload_kind::text);
}

TEST_CASE("UTF-8 validation refuses overlongs, surrogates and truncation") {
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));
  CHECK_FALSE(valid_utf8("\xe2\x82"));
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));
  CHECK_FALSE(valid_utf8("\x80"));
}

TEST_CASE("every problem maps to a status and a JSON error") {
  CHECK(problem_reply(problem::message_required).status == 400);
  CHECK(problem_reply(problem::message_required).body
        == R"({"error":"Message is required"})");
  CHECK(problem_reply(problem::message_too_large).status == 413);
  CHECK(problem_reply(problem::unsupported_media_type).status == 415);
  CHECK(problem_reply(problem::request_too_large).status == 431);
  CHECK(problem_reply(problem::unavailable).status == 503);
  CHECK(problem_reply(problem::internal_error).status == 500);
  CHECK(to_problem(make_error(ec::message_too_large))
        == problem::message_too_large);
  CHECK(to_problem(make_error(ec::message_required))
        == problem::message_required);
  CHECK(to_problem(caf::make_error(caf::sec::request_receiver_down))
        == problem::unavailable);
}

TEST_CASE("replies keep the original's bodies") {
  CHECK(enqueued_reply(7).body == R"({"success":"Message enqueued","id":7})");
  CHECK(healthy_reply().body == R"({"data":"ok"})");
  CHECK(not_found_reply().status == 404);
  CHECK(not_found_reply().body == R"({"data":"Not Found"})");
}

TEST_CASE("an error no table knows is a 500 (not a 503)") {
  CHECK(to_problem(caf::make_error(caf::sec::unexpected_message))
        == problem::internal_error);
  CHECK(to_problem(caf::make_error(caf::sec::runtime_error))
        == problem::internal_error);
  CHECK(problem_reply(problem::too_deep).status == 400);
}
