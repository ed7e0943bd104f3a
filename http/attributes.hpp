#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actormq/message.hpp"

/// Message attributes at the edge: the rules a client's attributes must
/// keep (SQS's), and the base64 that carries Binary values in text.
namespace actormq::http {

/// Returns what is wrong with a message's attributes, as a sentence that
/// starts with the part at fault, or nothing. The rules are SQS's: at most
/// max_message_attributes, unique names of 1-256 of [A-Za-z0-9_.-] that
/// neither start with "AWS." or "Amazon." nor start, end or repeat '.',
/// types String, Number or Binary with an optional ".label" (256 characters
/// in all), values never empty, a Number a finite decimal number, a String
/// or Number of the characters a message body may hold (see
/// valid_message_text()).
std::optional<std::string>
attribute_problem(const std::vector<message_attribute>& xs);

/// Whether an attribute of `type` holds bytes ("Binary", maybe with a
/// label), which travel in base64.
bool is_binary(std::string_view type);

/// Whether `x` is UTF-8 of the characters SQS takes in a message: #x9, #xA,
/// #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF.
bool valid_message_text(std::string_view x);

/// Returns `bytes` in base64 (RFC 4648, padded).
std::string base64_encode(std::string_view bytes);

/// Returns the bytes that base64 `text` (padded) stands for, or nothing if
/// it is not base64.
std::optional<std::string> base64_decode(std::string_view text);

} // namespace actormq::http
