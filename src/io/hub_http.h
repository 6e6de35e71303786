// A small blocking HTTP client over libcurl for the Hub and IPFS gateways: one request at a time per
// thread (each thread reuses its own connection), response headers collected, bodies streamed to a callback.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ia::http {

struct Request {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool follow_redirects = true;
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;  // abort a transfer that moves under 1 byte/s for this long
  // Receives the body of a 2xx response with its status (others are kept in Response::body, truncated to
  // 64 KiB); without it a 2xx body is kept in Response::body whole. Return false to abort the transfer.
  std::function<bool(long status, std::string_view chunk)> on_body;
};

struct Response {
  long status = 0;                             // 0: no HTTP response (see error)
  std::map<std::string, std::string> headers;  // of the last response, names lower-cased
  std::string body;
  std::string url;    // the effective URL after redirects
  int curl_code = 0;  // CURLcode; non-zero: transport failure (connect, timeout, cut connection)
  std::string error;
  bool aborted = false;  // on_body returned false

  std::string header(const std::string& lower_name) const;
  bool transport_failed() const { return curl_code != 0 && !aborted; }
};

Response perform(const Request& req);

// Percent-encodes everything except unreserved characters and those in `safe` (Python's urllib.parse.quote).
std::string url_quote(std::string_view s, std::string_view safe = "/");

}  // namespace ia::http
