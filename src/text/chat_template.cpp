#include "text/chat_template.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

using J = nlohmann::ordered_json;

[[noreturn]] void unsupported(int line, const std::string& what) {
  fail(ErrorKind::Unsupported, "chat template line {}: unsupported construct: {}", line, what);
}
[[noreturn]] void template_error(int line, const std::string& what) {
  fail(ErrorKind::InvalidArgument, "chat template line {}: {}", line, what);
}

// Counts one level of recursion in `depth` for its lifetime; past `limit` levels: a template error naming `what`.
class NestingGuard {
 public:
  NestingGuard(int& depth, int limit, int line, const char* what) : depth_(depth) {
    if (++depth_ > limit) template_error(line, fmt::format("{} nested deeper than {} levels", what, limit));
  }
  ~NestingGuard() { --depth_; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;

 private:
  int& depth_;
};

// ------------------------------------------------------------------------------------------------- lexing

struct Tok {
  enum Kind { Name, Str, Num, Op, End } kind;
  std::string s;
  J num;
};

std::vector<Tok> lex_expr(const std::string& src, int line) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < src.size()) {
    char c = src[i];
    if (isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = i;
      while (i < src.size() && (isalnum(static_cast<unsigned char>(src[i])) || src[i] == '_')) ++i;
      out.push_back({Tok::Name, src.substr(b, i - b), {}});
      continue;
    }
    if (isdigit(static_cast<unsigned char>(c))) {
      size_t b = i;
      bool is_float = false;
      while (i < src.size() && (isdigit(static_cast<unsigned char>(src[i])) || src[i] == '.' || src[i] == '_')) {
        if (src[i] == '.') {
          if (i + 1 >= src.size() || !isdigit(static_cast<unsigned char>(src[i + 1]))) break;
          is_float = true;
        }
        ++i;
      }
      std::string n = src.substr(b, i - b);
      Tok t{Tok::Num, n, {}};
      n.erase(std::remove(n.begin(), n.end(), '_'), n.end());  // Python literals allow 1_000
      if (is_float) {
        t.num = std::strtod(n.c_str(), nullptr);  // beyond the double range: inf, as Python's float literals
      } else {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        IA_CHECK(ec == std::errc() && end == n.data() + n.size(), ErrorKind::Unsupported,
                 "chat template line {}: integer literal {} does not fit in 64 bits", line, n);
        t.num = v;
      }
      out.push_back(t);
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string s;
      ++i;
      while (i < src.size() && src[i] != c) {
        if (src[i] == '\\' && i + 1 < src.size()) {
          char e = src[++i];
          switch (e) {
            case 'n': s += '\n'; break;
            case 't': s += '\t'; break;
            case 'r': s += '\r'; break;
            case '\\': s += '\\'; break;
            case '\'': s += '\''; break;
            case '"': s += '"'; break;
            default: s += '\\'; s += e;
          }
          ++i;
          continue;
        }
        s += src[i++];
      }
      if (i >= src.size()) template_error(line, "unterminated string literal");
      ++i;
      out.push_back({Tok::Str, s, {}});
      continue;
    }
    static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
    bool matched = false;
    for (const char* t : two) {
      if (src.compare(i, 2, t) == 0) {
        out.push_back({Tok::Op, t, {}});
        i += 2;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string_view("+-*/%~()[]{}.,:|<>=").find(c) != std::string_view::npos) {
      out.push_back({Tok::Op, std::string(1, c), {}});
      ++i;
      continue;
    }
    unsupported(line, fmt::format("character '{}' in an expression", c));
  }
  out.push_back({Tok::End, "", {}});
  return out;
}

// ---------------------------------------------------------------------------------------------------- AST

struct Expr {
  enum Kind { Lit, Var, Attr, Index, Slice, Call, Method, Filter, Test, Not, Neg, Bin, Cond, List, Dict } kind;
  J value;           // literal
  std::string name;  // variable / attribute / function / filter / test / operator
  std::vector<std::unique_ptr<Expr>> kids;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  bool negate = false;
  int line = 0;
};
using ExprP = std::unique_ptr<Expr>;

ExprP mk(Expr::Kind k, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->line = line;
  return e;
}

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks, int line) : t_(std::move(toks)), line_(line) {}
  ExprP parse() { return ternary(); }
  const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().kind == Tok::End; }
  bool is_op(const char* s, size_t k = 0) const { return peek(k).kind == Tok::Op && peek(k).s == s; }
  bool is_name(const char* s, size_t k = 0) const { return peek(k).kind == Tok::Name && peek(k).s == s; }
  void expect_op(const char* s) {
    if (!is_op(s)) template_error(line_, fmt::format("expected '{}' but found '{}'", s, peek().s));
    ++p_;
  }
  std::string expect_name() {
    if (peek().kind != Tok::Name) template_error(line_, fmt::format("expected a name but found '{}'", peek().s));
    return t_[p_++].s;
  }
  void next() { ++p_; }

  // The parser's recursion (parenthesised, unary and ternary nesting) counts against kMaxTemplateNesting.
  ExprP ternary() {
    NestingGuard guard(depth_, kMaxTemplateNesting, line_, "expression");
    ExprP a = or_expr();
    if (is_name("if")) {
      next();
      ExprP cond = or_expr();
      ExprP b;
      if (is_name("else")) {
        next();
        b = ternary();
      } else {
        b = mk(Expr::Lit, line_);
        b->value = J();
        b->negate = true;  // undefined
      }
      auto e = mk(Expr::Cond, line_);
      e->kids.push_back(std::move(cond));
      e->kids.push_back(std::move(a));
      e->kids.push_back(std::move(b));
      return e;
    }
    return a;
  }
  ExprP or_expr() {
    ExprP a = and_expr();
    while (is_name("or")) {
      next();
      a = bin("or", std::move(a), and_expr());
    }
    return a;
  }
  ExprP and_expr() {
    ExprP a = not_expr();
    while (is_name("and")) {
      next();
      a = bin("and", std::move(a), not_expr());
    }
    return a;
  }
  ExprP not_expr() {
    if (is_name("not")) {
      next();
      auto e = mk(Expr::Not, line_);
      e->kids.push_back(not_expr());
      return e;
    }
    return compare();
  }
  ExprP compare() {
    ExprP a = concat();
    while (true) {
      if (peek().kind == Tok::Op && (peek().s == "==" || peek().s == "!=" || peek().s == "<" || peek().s == ">" ||
                                     peek().s == "<=" || peek().s == ">=")) {
        std::string op = peek().s;
        next();
        a = bin(op, std::move(a), concat());
      } else if (is_name("in")) {
        next();
        a = bin("in", std::move(a), concat());
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        a = bin("not in", std::move(a), concat());
      } else if (is_name("is")) {
        next();
        auto e = mk(Expr::Test, line_);
        if (is_name("not")) {
          next();
          e->negate = true;
        }
        e->name = expect_name();
        e->kids.push_back(std::move(a));
        if (is_op("(")) parse_args(*e);
        a = std::move(e);
      } else {
        return a;
      }
    }
  }
  ExprP concat() {
    ExprP a = add();
    while (is_op("~")) {
      next();
      a = bin("~", std::move(a), add());
    }
    return a;
  }
  ExprP add() {
    ExprP a = mul();
    while (is_op("+") || is_op("-")) {
      std::string op = peek().s;
      next();
      a = bin(op, std::move(a), mul());
    }
    return a;
  }
  ExprP mul() {
    ExprP a = unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = peek().s;
      next();
      a = bin(op, std::move(a), unary());
    }
    return a;
  }
  ExprP unary() {
    NestingGuard guard(depth_, kMaxTemplateNesting, line_, "expression");
    if (is_op("-")) {
      next();
      auto e = mk(Expr::Neg, line_);
      e->kids.push_back(unary());
      return e;
    }
    if (is_op("+")) {
      next();
      return unary();
    }
    return postfix(primary());
  }
  void parse_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Tok::Name && is_op("=", 1)) {
        std::string k = expect_name();
        next();
        e.kwargs.emplace_back(k, ternary());
      } else {
        e.kids.push_back(ternary());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }
  ExprP postfix(ExprP a) {
    while (true) {
      if (is_op(".")) {
        next();
        std::string name = expect_name();
        if (is_op("(")) {
          auto e = mk(Expr::Method, line_);
          e->name = name;
          e->kids.push_back(std::move(a));
          parse_args(*e);
          a = std::move(e);
        } else {
          auto e = mk(Expr::Attr, line_);
          e->name = name;
          e->kids.push_back(std::move(a));
          a = std::move(e);
        }
      } else if (is_op("[")) {
        next();
        ExprP parts[3];
        bool slice = false;
        int k = 0;
        while (!is_op("]")) {
          if (is_op(":")) {
            slice = true;
            ++k;
            if (k > 2) template_error(line_, "bad slice");
            next();
            continue;
          }
          parts[k] = ternary();
        }
        next();
        if (slice) {
          auto e = mk(Expr::Slice, line_);
          e->kids.push_back(std::move(a));
          for (auto& p : parts) e->kids.push_back(std::move(p));
          a = std::move(e);
        } else {
          if (!parts[0]) template_error(line_, "empty subscript");
          auto e = mk(Expr::Index, line_);
          e->kids.push_back(std::move(a));
          e->kids.push_back(std::move(parts[0]));
          a = std::move(e);
        }
      } else if (is_op("(") && a->kind == Expr::Var) {
        auto e = mk(Expr::Call, line_);
        e->name = a->name;
        parse_args(*e);
        a = std::move(e);
      } else if (is_op("|")) {
        next();
        auto e = mk(Expr::Filter, line_);
        e->name = expect_name();
        e->kids.push_back(std::move(a));
        if (is_op("(")) parse_args(*e);
        a = std::move(e);
      } else {
        return a;
      }
    }
  }
  ExprP primary() {
    const Tok& t = peek();
    if (t.kind == Tok::Str) {
      auto e = mk(Expr::Lit, line_);
      std::string s = t.s;
      next();
      while (peek().kind == Tok::Str) {  // adjacent literals concatenate
        s += peek().s;
        next();
      }
      e->value = s;
      return e;
    }
    if (t.kind == Tok::Num) {
      auto e = mk(Expr::Lit, line_);
      e->value = t.num;
      next();
      return e;
    }
    if (t.kind == Tok::Name) {
      std::string n = t.s;
      next();
      auto e = mk(Expr::Lit, line_);
      if (n == "true" || n == "True") e->value = true;
      else if (n == "false" || n == "False") e->value = false;
      else if (n == "none" || n == "None") e->value = nullptr;
      else {
        e->kind = Expr::Var;
        e->name = n;
      }
      return e;
    }
    if (is_op("(")) {
      next();
      ExprP e = ternary();
      if (is_op(",")) unsupported(line_, "tuple literals");
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = mk(Expr::List, line_);
      while (!is_op("]")) {
        e->kids.push_back(ternary());
        if (!is_op(",")) break;
        next();
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = mk(Expr::Dict, line_);
      while (!is_op("}")) {
        e->kids.push_back(ternary());
        expect_op(":");
        e->kids.push_back(ternary());
        if (!is_op(",")) break;
        next();
      }
      expect_op("}");
      return e;
    }
    template_error(line_, fmt::format("unexpected '{}' in expression", t.s));
  }

 private:
  ExprP bin(const std::string& op, ExprP a, ExprP b) {
    auto e = mk(Expr::Bin, line_);
    e->name = op;
    e->kids.push_back(std::move(a));
    e->kids.push_back(std::move(b));
    return e;
  }
  std::vector<Tok> t_;
  size_t p_ = 0;
  int line_;
  int depth_ = 0;
};

struct Node {
  enum Kind { Text, Out, If, For, Set } kind;
  std::string text;
  std::vector<ExprP> exprs;               // If: conditions; Out/Set/For: one expression
  std::vector<std::vector<Node>> bodies;  // If: one per condition (+ else); For: body (+ else)
  std::vector<std::string> names;         // For: loop variables; Set: target (and attribute)
  int line = 0;
};

struct Segment {
  enum Kind { Text, Expr, Stmt } kind;
  std::string s;
  int line;
};

std::vector<Segment> split_template(const std::string& src) {
  std::vector<Segment> out;
  size_t i = 0;
  int line = 1;
  bool strip_next = false, trim_newline = false;
  auto count_lines = [](std::string_view s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); };
  while (i <= src.size()) {
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' && src[open + 1] != '%' &&
           src[open + 1] != '#')
      open = src.find('{', open + 1);
    if (open != std::string::npos && open + 1 >= src.size()) open = std::string::npos;
    std::string text = src.substr(i, (open == std::string::npos ? src.size() : open) - i);
    if (trim_newline && !text.empty() && text[0] == '\n') text.erase(0, 1);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && isspace(static_cast<unsigned char>(text[k]))) ++k;
      text.erase(0, k);
    }
    strip_next = trim_newline = false;
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::Text, text, line});
      break;
    }
    char kind = src[open + 1];
    size_t body = open + 2;
    bool lstrip = body < src.size() && src[body] == '-';
    bool plus = body < src.size() && src[body] == '+';
    if (lstrip || plus) ++body;
    if (lstrip) {
      while (!text.empty() && isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    } else if ((kind == '%' || kind == '#') && !plus) {
      // lstrip_blocks: drop spaces/tabs between the line start and a block tag.
      size_t k = text.size();
      while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
      size_t ws_start = open - (text.size() - k);
      bool line_start = ws_start == 0 || src[ws_start - 1] == '\n';
      if (line_start) text.erase(k);
    }
    if (!text.empty()) out.push_back({Segment::Text, text, line});
    line += count_lines(src.substr(i, open - i));
    std::string closer = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t close = std::string::npos;
    if (kind == '#') {
      close = src.find(closer, body);
    } else {
      char quote = 0;
      for (size_t k = body; k + 1 < src.size(); ++k) {
        char c = src[k];
        if (quote) {
          if (c == '\\') ++k;
          else if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (src.compare(k, 2, closer) == 0) {
          close = k;
          break;
        }
      }
    }
    if (close == std::string::npos) template_error(line, fmt::format("unclosed '{{{}'", kind));
    size_t inner_end = close;
    if (close > body && src[close - 1] == '-') {
      strip_next = true;
      --inner_end;
    }
    if (kind != '{') trim_newline = true;
    std::string inner = src.substr(body, inner_end - body);
    if (kind == '{') out.push_back({Segment::Expr, inner, line});
    else if (kind == '%') out.push_back({Segment::Stmt, inner, line});
    line += count_lines(src.substr(open, close + 2 - open));
    i = close + 2;
  }
  return out;
}

class TemplateParser {
 public:
  explicit TemplateParser(std::vector<Segment> segs) : segs_(std::move(segs)) {}
  std::vector<Node> parse_all() {
    std::string end;
    auto nodes = parse_until({}, end);
    if (pos_ < segs_.size()) template_error(segs_[pos_].line, "unexpected tag");
    return nodes;
  }

 private:
  static std::string first_word(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\n\r");
    if (b == std::string::npos) return "";
    size_t e = b;
    while (e < s.size() && (isalnum(static_cast<unsigned char>(s[e])) || s[e] == '_')) ++e;
    return s.substr(b, e - b);
  }
  static std::string rest_after(const std::string& s, const std::string& word) {
    size_t b = s.find(word);
    return s.substr(b + word.size());
  }

  std::vector<Node> parse_until(const std::vector<std::string>& stops, std::string& found) {
    std::vector<Node> nodes;
    while (pos_ < segs_.size()) {
      const Segment& sg = segs_[pos_];
      if (sg.kind == Segment::Text) {
        nodes.push_back(Node{Node::Text, sg.s, {}, {}, {}, sg.line});
        ++pos_;
        continue;
      }
      if (sg.kind == Segment::Expr) {
        Node n{Node::Out, "", {}, {}, {}, sg.line};
        n.exprs.push_back(parse_expr(sg.s, sg.line));
        nodes.push_back(std::move(n));
        ++pos_;
        continue;
      }
      std::string w = first_word(sg.s);
      if (std::find(stops.begin(), stops.end(), w) != stops.end()) {
        found = w;
        return nodes;
      }
      ++pos_;
      if (w == "if") {
        Node n{Node::If, "", {}, {}, {}, sg.line};
        n.exprs.push_back(parse_expr(rest_after(sg.s, "if"), sg.line));
        while (true) {
          std::string stop;
          n.bodies.push_back(parse_until({"elif", "else", "endif"}, stop));
          if (pos_ >= segs_.size()) template_error(sg.line, "missing endif");
          const Segment& t = segs_[pos_++];
          if (stop == "elif") {
            n.exprs.push_back(parse_expr(rest_after(t.s, "elif"), t.line));
          } else if (stop == "else") {
            std::string s2;
            n.bodies.push_back(parse_until({"endif"}, s2));
            if (pos_ >= segs_.size()) template_error(sg.line, "missing endif");
            ++pos_;
            break;
          } else {
            break;
          }
        }
        nodes.push_back(std::move(n));
      } else if (w == "for") {
        Node n{Node::For, "", {}, {}, {}, sg.line};
        std::string rest = rest_after(sg.s, "for");
        auto toks = lex_expr(rest, sg.line);
        ExprParser p(toks, sg.line);
        n.names.push_back(p.expect_name());
        while (p.is_op(",")) {
          p.next();
          n.names.push_back(p.expect_name());
        }
        if (!p.is_name("in")) template_error(sg.line, "expected 'in' in for loop");
        p.next();
        n.exprs.push_back(p.or_expr());
        if (p.is_name("if")) unsupported(sg.line, "for-loop filters ('for x in y if ...')");
        if (p.is_name("recursive")) unsupported(sg.line, "recursive loops");
        if (!p.at_end()) template_error(sg.line, "unexpected tokens after for loop header");
        std::string stop;
        n.bodies.push_back(parse_until({"else", "endfor"}, stop));
        if (pos_ >= segs_.size()) template_error(sg.line, "missing endfor");
        ++pos_;
        if (stop == "else") {
          std::string s2;
          n.bodies.push_back(parse_until({"endfor"}, s2));
          if (pos_ >= segs_.size()) template_error(sg.line, "missing endfor");
          ++pos_;
        }
        nodes.push_back(std::move(n));
      } else if (w == "set") {
        Node n{Node::Set, "", {}, {}, {}, sg.line};
        std::string rest = rest_after(sg.s, "set");
        auto toks = lex_expr(rest, sg.line);
        ExprParser p(toks, sg.line);
        n.names.push_back(p.expect_name());
        if (p.is_op(".")) {
          p.next();
          n.names.push_back(p.expect_name());
        }
        if (!p.is_op("=")) unsupported(sg.line, "block set ('{% set x %}...{% endset %}') or tuple assignment");
        p.next();
        n.exprs.push_back(p.parse());
        if (!p.at_end()) template_error(sg.line, "unexpected tokens after set");
        nodes.push_back(std::move(n));
      } else {
        unsupported(sg.line, fmt::format("'{{% {} %}}' tag", w));
      }
    }
    return nodes;
  }

  ExprP parse_expr(const std::string& s, int line) {
    ExprParser p(lex_expr(s, line), line);
    ExprP e = p.parse();
    if (!p.at_end()) template_error(line, fmt::format("unexpected '{}' in expression", p.peek().s));
    return e;
  }

  std::vector<Segment> segs_;
  size_t pos_ = 0;
};

// ------------------------------------------------------------------------------------------------ values

struct Val {
  J j;
  bool undef = false;
};

std::string py_float(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string py_repr_str(const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  out += q;
  return out;
}

std::string py_repr(const J& j) {
  switch (j.type()) {
    case J::value_t::null: return "None";
    case J::value_t::boolean: return j.get<bool>() ? "True" : "False";
    case J::value_t::number_integer: return std::to_string(j.get<int64_t>());
    case J::value_t::number_unsigned: return std::to_string(j.get<uint64_t>());
    case J::value_t::number_float: return py_float(j.get<double>());
    case J::value_t::string: return py_repr_str(j.get<std::string>());
    case J::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + py_repr(j[i]);
      return s + "]";
    }
    case J::value_t::object: {
      std::string s = "{";
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        s += (first ? "" : ", ") + py_repr_str(it.key()) + ": " + py_repr(it.value());
        first = false;
      }
      return s + "}";
    }
    default: return "";
  }
}

std::string to_str(const Val& v) {
  if (v.undef) return "";
  if (v.j.is_string()) return v.j.get<std::string>();
  return py_repr(v.j);
}

// Python json.dumps(ensure_ascii=False) with the default separators or an indent.
void py_json(const J& j, std::string& out, int indent, int depth) {
  auto nl = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (j.type()) {
    case J::value_t::null: out += "null"; return;
    case J::value_t::boolean: out += j.get<bool>() ? "true" : "false"; return;
    case J::value_t::number_integer: out += std::to_string(j.get<int64_t>()); return;
    case J::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); return;
    case J::value_t::number_float: {
      double d = j.get<double>();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : py_float(d);
      return;
    }
    case J::value_t::string: {
      out += '"';
      for (unsigned char c : j.get_ref<const std::string&>()) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default:
            if (c < 0x20) out += fmt::format("\\u{:04x}", c);
            else out += static_cast<char>(c);
        }
      }
      out += '"';
      return;
    }
    case J::value_t::array: {
      if (j.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < j.size(); ++i) {
        if (i) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) nl(depth + 1);
        py_json(j[i], out, indent, depth + 1);
      }
      if (indent >= 0) nl(depth);
      out += ']';
      return;
    }
    case J::value_t::object: {
      if (j.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) nl(depth + 1);
        py_json(J(it.key()), out, indent, depth + 1);
        out += ": ";
        py_json(it.value(), out, indent, depth + 1);
      }
      if (indent >= 0) nl(depth);
      out += '}';
      return;
    }
    default: return;
  }
}

bool truthy(const Val& v) {
  if (v.undef) return false;
  const J& j = v.j;
  switch (j.type()) {
    case J::value_t::null: return false;
    case J::value_t::boolean: return j.get<bool>();
    case J::value_t::number_integer: return j.get<int64_t>() != 0;
    case J::value_t::number_unsigned: return j.get<uint64_t>() != 0;
    case J::value_t::number_float: return j.get<double>() != 0;
    case J::value_t::string: return !j.get_ref<const std::string&>().empty();
    case J::value_t::array:
    case J::value_t::object: return !j.empty();
    default: return false;
  }
}

std::vector<std::string> chars_of(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(s[i]));
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string strip_chars(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  auto in_set = [&](char32_t c) {
    if (!chars) return is_whitespace(c);
    for (size_t i = 0; i < chars->size();)
      if (utf8_next(*chars, i) == c) return true;
    return false;
  };
  auto cs = chars_of(s);
  size_t b = 0, e = cs.size();
  auto cp = [&](size_t k) {
    size_t i = 0;
    return utf8_next(cs[k], i);
  };
  if (left)
    while (b < e && in_set(cp(b))) ++b;
  if (right)
    while (e > b && in_set(cp(e - 1))) --e;
  std::string out;
  for (size_t k = b; k < e; ++k) out += cs[k];
  return out;
}

class Renderer {
 public:
  explicit Renderer(const J& ctx) { scopes_.emplace_back(); for (auto it = ctx.begin(); it != ctx.end(); ++it) scopes_[0][it.key()] = it.value(); }

  void run(const std::vector<Node>& nodes, std::string& out) {
    for (auto& n : nodes) {
      switch (n.kind) {
        case Node::Text:
          out += n.text;
          check_output(n.line, out);
          break;
        case Node::Out:
          out += to_str(eval(*n.exprs[0]));
          check_output(n.line, out);
          break;
        case Node::If: {
          size_t k = 0;
          for (; k < n.exprs.size(); ++k) {
            if (truthy(eval(*n.exprs[k]))) {
              run(n.bodies[k], out);
              break;
            }
          }
          if (k == n.exprs.size() && n.bodies.size() > n.exprs.size()) run(n.bodies.back(), out);
          break;
        }
        case Node::For: run_for(n, out); break;
        case Node::Set: {
          Val v = eval(*n.exprs[0]);
          if (n.names.size() == 1) {
            scopes_.back()[n.names[0]] = v.j;
          } else {
            J* target = lookup_ref(n.names[0]);
            if (!target || !target->is_object()) template_error(n.line, fmt::format("cannot set attribute of '{}'", n.names[0]));
            (*target)[n.names[1]] = v.j;
          }
          break;
        }
      }
    }
  }

 private:
  static void check_output(int line, const std::string& out) {
    if (out.size() > kMaxTemplateOutputBytes)
      template_error(line, fmt::format("rendered output exceeds the {} byte limit", kMaxTemplateOutputBytes));
  }
  // Every loop iteration and range() item counts against kMaxTemplateIterations for the whole render.
  void count_iterations(int line, int64_t n) {
    if (n > kMaxTemplateIterations - iterations_)
      template_error(line, fmt::format("more than {} loop iterations / range items", kMaxTemplateIterations));
    iterations_ += n;
  }
  static Val checked(int line, Val v) {
    if (v.j.is_string() && v.j.get_ref<const std::string&>().size() > kMaxTemplateOutputBytes)
      template_error(line, fmt::format("a string value exceeds the {} byte limit", kMaxTemplateOutputBytes));
    if (v.j.is_array() && v.j.size() > kMaxTemplateListItems)
      template_error(line, fmt::format("a list value exceeds {} items", kMaxTemplateListItems));
    return v;
  }

  void run_for(const Node& n, std::string& out) {
    Val it = eval(*n.exprs[0]);
    std::vector<J> items;
    if (it.undef || it.j.is_null()) {
      items.clear();
    } else if (it.j.is_array()) {
      for (auto& x : it.j) items.push_back(x);
    } else if (it.j.is_object()) {
      for (auto e = it.j.begin(); e != it.j.end(); ++e) items.push_back(e.key());
    } else if (it.j.is_string()) {
      for (auto& c : chars_of(it.j.get<std::string>())) items.push_back(c);
    } else {
      template_error(n.line, "for loop over a value that is not iterable");
    }
    if (items.empty()) {
      if (n.bodies.size() > 1) run(n.bodies[1], out);
      return;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      count_iterations(n.line, 1);
      scopes_.emplace_back();
      auto& sc = scopes_.back();
      if (n.names.size() == 1) {
        sc[n.names[0]] = items[i];
      } else {
        if (!items[i].is_array() || items[i].size() != n.names.size())
          template_error(n.line, "cannot unpack loop item into the loop variables");
        for (size_t k = 0; k < n.names.size(); ++k) sc[n.names[k]] = items[i][k];
      }
      J loop = J::object();
      loop["index0"] = i;
      loop["index"] = i + 1;
      loop["revindex"] = items.size() - i;
      loop["revindex0"] = items.size() - i - 1;
      loop["first"] = i == 0;
      loop["last"] = i + 1 == items.size();
      loop["length"] = items.size();
      if (i > 0) loop["previtem"] = items[i - 1];
      if (i + 1 < items.size()) loop["nextitem"] = items[i + 1];
      sc["loop"] = loop;
      run(n.bodies[0], out);
      scopes_.pop_back();
    }
  }

  J* lookup_ref(const std::string& name) {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s) {
      auto it = s->find(name);
      if (it != s->end()) return &it->second;
    }
    return nullptr;
  }

  static Val undef() { return Val{J(), true}; }
  static Val val(J j) { return Val{std::move(j), false}; }

  Val eval(const Expr& e) {
    // Left-deep operator chains (a ~ b ~ c ...) are parsed by loops but evaluated recursively.
    NestingGuard depth(eval_depth_, 4 * kMaxTemplateNesting, e.line, "expression evaluation");
    switch (e.kind) {
      case Expr::Lit: return e.negate ? undef() : val(e.value);
      case Expr::Var: {
        J* r = lookup_ref(e.name);
        return r ? val(*r) : undef();
      }
      case Expr::Attr: {
        Val o = eval(*e.kids[0]);
        if (o.undef) template_error(e.line, fmt::format("'{}' of an undefined value", e.name));
        if (o.j.is_object()) {
          auto it = o.j.find(e.name);
          return it == o.j.end() ? undef() : val(*it);
        }
        return undef();
      }
      case Expr::Index: {
        Val o = eval(*e.kids[0]);
        Val k = eval(*e.kids[1]);
        if (o.undef) template_error(e.line, "subscript of an undefined value");
        if (o.j.is_object() && k.j.is_string()) {
          auto it = o.j.find(k.j.get<std::string>());
          return it == o.j.end() ? undef() : val(*it);
        }
        if ((o.j.is_array() || o.j.is_string()) && k.j.is_number_integer()) {
          int64_t i = k.j.get<int64_t>();
          if (o.j.is_string()) {
            auto cs = chars_of(o.j.get<std::string>());
            int64_t n = static_cast<int64_t>(cs.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) template_error(e.line, "string index out of range");
            return val(cs[static_cast<size_t>(i)]);
          }
          int64_t n = static_cast<int64_t>(o.j.size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return undef();
          return val(o.j[static_cast<size_t>(i)]);
        }
        return undef();
      }
      case Expr::Slice: return slice(e);
      case Expr::Call: return call(e);
      case Expr::Method: return method(e);
      case Expr::Filter: return filter(e);
      case Expr::Test: {
        bool r = test(e);
        return val(e.negate ? !r : r);
      }
      case Expr::Not: return val(!truthy(eval(*e.kids[0])));
      case Expr::Neg: {
        Val v = eval(*e.kids[0]);
        if (v.j.is_number_integer()) return val(-v.j.get<int64_t>());
        if (v.j.is_number()) return val(-v.j.get<double>());
        template_error(e.line, "unary minus on a non-number");
      }
      case Expr::Cond: return truthy(eval(*e.kids[0])) ? eval(*e.kids[1]) : eval(*e.kids[2]);
      case Expr::List: {
        J a = J::array();
        for (auto& k : e.kids) a.push_back(eval(*k).j);
        return val(a);
      }
      case Expr::Dict: {
        J o = J::object();
        for (size_t i = 0; i + 1 < e.kids.size(); i += 2) o[to_str(eval(*e.kids[i]))] = eval(*e.kids[i + 1]).j;
        return val(o);
      }
      case Expr::Bin: return binary(e);
    }
    return undef();
  }

  Val slice(const Expr& e) {
    Val o = eval(*e.kids[0]);
    auto get = [&](size_t k) -> std::optional<int64_t> {
      if (!e.kids[k]) return std::nullopt;
      Val v = eval(*e.kids[k]);
      if (!v.j.is_number_integer()) template_error(e.line, "slice bounds must be integers");
      return v.j.get<int64_t>();
    };
    auto a = get(1), b = get(2), st = get(3);
    int64_t step = st.value_or(1);
    if (step == 0) template_error(e.line, "slice step cannot be zero");
    std::vector<J> items;
    bool is_str = o.j.is_string();
    if (is_str) {
      for (auto& c : chars_of(o.j.get<std::string>())) items.push_back(c);
    } else if (o.j.is_array()) {
      for (auto& x : o.j) items.push_back(x);
    } else {
      template_error(e.line, "slice of a value that is not a list or string");
    }
    int64_t n = static_cast<int64_t>(items.size());
    auto norm = [&](std::optional<int64_t> v, int64_t def) {
      if (!v) return def;
      int64_t x = *v < 0 ? *v + n : *v;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    int64_t lo = norm(a, step > 0 ? 0 : n - 1), hi = norm(b, step > 0 ? n : -1);
    J out = is_str ? J("") : J::array();
    std::string s;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
      if (is_str) s += items[static_cast<size_t>(i)].get<std::string>();
      else out.push_back(items[static_cast<size_t>(i)]);
    }
    return is_str ? val(s) : val(out);
  }

  Val call(const Expr& e) {
    if (e.name == "namespace") {
      J o = J::object();
      for (auto& [k, v] : e.kwargs) o[k] = eval(*v).j;
      return val(o);
    }
    if (e.name == "raise_exception") {
      std::string msg = e.kids.empty() ? "" : to_str(eval(*e.kids[0]));
      fail(ErrorKind::InvalidArgument, "chat template raised: {}", msg);
    }
    if (e.name == "range") {
      std::vector<int64_t> a;
      for (auto& k : e.kids) a.push_back(eval(*k).j.get<int64_t>());
      int64_t lo = a.size() > 1 ? a[0] : 0, hi = a.size() > 1 ? a[1] : (a.empty() ? 0 : a[0]), st = a.size() > 2 ? a[2] : 1;
      if (st == 0) template_error(e.line, "range() arg 3 must not be zero");
      // Python's len(range(lo, hi, st)), in 128 bits so no bound overflows.
      const __int128 span = st > 0 ? __int128(hi) - lo : __int128(lo) - hi;
      const __int128 step = st > 0 ? __int128(st) : -__int128(st);
      const __int128 count = span <= 0 ? 0 : (span + step - 1) / step;
      if (count > kMaxTemplateIterations)
        template_error(e.line, fmt::format("range() of more than {} items", kMaxTemplateIterations));
      count_iterations(e.line, static_cast<int64_t>(count));
      J out = J::array();
      for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) out.push_back(static_cast<int64_t>(lo + __int128(k) * st));
      return val(out);
    }
    unsupported(e.line, fmt::format("function '{}'", e.name));
  }

  Val method(const Expr& e) {
    Val o = eval(*e.kids[0]);
    std::vector<Val> args;
    for (size_t i = 1; i < e.kids.size(); ++i) args.push_back(eval(*e.kids[i]));
    auto arg_str = [&](size_t i) -> std::optional<std::string> {
      if (i >= args.size() || args[i].undef || args[i].j.is_null()) return std::nullopt;
      return to_str(args[i]);
    };
    if (o.j.is_string() && !o.undef) {
      const std::string s = o.j.get<std::string>();
      if (e.name == "startswith" || e.name == "endswith") {
        std::string p = arg_str(0).value_or("");
        bool r = e.name == "startswith" ? s.compare(0, p.size(), p) == 0
                                        : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
        return val(r);
      }
      if (e.name == "strip") return val(strip_chars(s, arg_str(0), true, true));
      if (e.name == "lstrip") return val(strip_chars(s, arg_str(0), true, false));
      if (e.name == "rstrip") return val(strip_chars(s, arg_str(0), false, true));
      if (e.name == "upper" || e.name == "lower") {
        std::string r = s;
        for (auto& c : r) c = static_cast<char>(e.name == "upper" ? toupper(static_cast<unsigned char>(c)) : tolower(static_cast<unsigned char>(c)));
        return val(r);
      }
      if (e.name == "split") {
        J out = J::array();
        auto sep = arg_str(0);
        if (!sep) {
          std::string cur;
          for (char c : s) {
            if (isspace(static_cast<unsigned char>(c))) {
              if (!cur.empty()) out.push_back(cur);
              cur.clear();
            } else {
              cur += c;
            }
          }
          if (!cur.empty()) out.push_back(cur);
          return val(out);
        }
        if (sep->empty()) template_error(e.line, "split: empty separator");
        size_t prev = 0, pos;
        while ((pos = s.find(*sep, prev)) != std::string::npos) {
          out.push_back(s.substr(prev, pos - prev));
          prev = pos + sep->size();
        }
        out.push_back(s.substr(prev));
        return val(out);
      }
      if (e.name == "replace") {
        std::string a = arg_str(0).value_or(""), b = arg_str(1).value_or(""), r;
        if (a.empty()) return val(s);
        size_t prev = 0, pos;
        while ((pos = s.find(a, prev)) != std::string::npos) {
          r += s.substr(prev, pos - prev) + b;
          prev = pos + a.size();
        }
        return val(r + s.substr(prev));
      }
    }
    if (o.j.is_object() && !o.undef) {
      if (e.name == "items") {
        J out = J::array();
        for (auto it = o.j.begin(); it != o.j.end(); ++it) out.push_back(J::array({it.key(), it.value()}));
        return val(out);
      }
      if (e.name == "keys" || e.name == "values") {
        J out = J::array();
        for (auto it = o.j.begin(); it != o.j.end(); ++it) out.push_back(e.name == "keys" ? J(it.key()) : it.value());
        return val(out);
      }
      if (e.name == "get") {
        auto it = o.j.find(arg_str(0).value_or(""));
        if (it != o.j.end()) return val(*it);
        return args.size() > 1 ? args[1] : val(nullptr);
      }
    }
    std::string type = o.undef ? "undefined" : o.j.is_array() ? "list" : o.j.is_object() ? "dict" : o.j.type_name();
    template_error(e.line, fmt::format("'{} object' has no method '{}'", type, e.name));
  }

  Val filter(const Expr& e) {
    Val o = eval(*e.kids[0]);
    const std::string& f = e.name;
    if (f == "trim") return val(strip_chars(to_str(o), std::nullopt, true, true));
    if (f == "tojson") {
      int indent = -1;
      for (auto& [k, v] : e.kwargs)
        if (k == "indent") indent = static_cast<int>(eval(*v).j.get<int64_t>());
      if (e.kids.size() > 1) indent = static_cast<int>(eval(*e.kids[1]).j.get<int64_t>());
      std::string out;
      py_json(o.j, out, indent, 0);
      return val(out);
    }
    if (f == "length" || f == "count") {
      if (o.j.is_string()) return val(utf8_char_count(o.j.get<std::string>()));
      if (o.j.is_array() || o.j.is_object()) return val(o.j.size());
      template_error(e.line, "length of a value without a length");
    }
    if (f == "string") return val(to_str(o));
    if (f == "lower" || f == "upper") {
      std::string r = to_str(o);
      for (auto& c : r) c = static_cast<char>(f == "upper" ? toupper(static_cast<unsigned char>(c)) : tolower(static_cast<unsigned char>(c)));
      return val(r);
    }
    if (f == "first" || f == "last") {
      if (o.j.is_array()) return o.j.empty() ? undef() : val(f == "first" ? o.j.front() : o.j.back());
      if (o.j.is_string()) {
        auto cs = chars_of(o.j.get<std::string>());
        return cs.empty() ? undef() : val(f == "first" ? cs.front() : cs.back());
      }
    }
    if (f == "join") {
      std::string sep = e.kids.size() > 1 ? to_str(eval(*e.kids[1])) : "";
      std::string r;
      if (o.j.is_array())
        for (size_t i = 0; i < o.j.size(); ++i) r += (i ? sep : "") + to_str(val(o.j[i]));
      return val(r);
    }
    if (f == "default" || f == "d") {
      if (o.undef) return e.kids.size() > 1 ? eval(*e.kids[1]) : val("");
      return o;
    }
    if (f == "list") {
      if (o.j.is_array()) return o;
      J a = J::array();
      if (o.j.is_string())
        for (auto& c : chars_of(o.j.get<std::string>())) a.push_back(c);
      else if (o.j.is_object())
        for (auto it = o.j.begin(); it != o.j.end(); ++it) a.push_back(it.key());
      return val(a);
    }
    if (f == "items" && o.j.is_object()) {
      J out = J::array();
      for (auto it = o.j.begin(); it != o.j.end(); ++it) out.push_back(J::array({it.key(), it.value()}));
      return val(out);
    }
    if (f == "capitalize") {
      std::string r = to_str(o);
      for (size_t i = 0; i < r.size(); ++i)
        r[i] = static_cast<char>(i == 0 ? toupper(static_cast<unsigned char>(r[i])) : tolower(static_cast<unsigned char>(r[i])));
      return val(r);
    }
    unsupported(e.line, fmt::format("filter '{}'", f));
  }

  bool test(const Expr& e) {
    Val o = eval(*e.kids[0]);
    const std::string& t = e.name;
    if (t == "defined") return !o.undef;
    if (t == "undefined") return o.undef;
    if (t == "none") return !o.undef && o.j.is_null();
    if (t == "string") return !o.undef && o.j.is_string();
    if (t == "number") return !o.undef && o.j.is_number();
    if (t == "integer") return !o.undef && o.j.is_number_integer();
    if (t == "float") return !o.undef && o.j.is_number_float();
    if (t == "boolean") return !o.undef && o.j.is_boolean();
    if (t == "true") return !o.undef && o.j.is_boolean() && o.j.get<bool>();
    if (t == "false") return !o.undef && o.j.is_boolean() && !o.j.get<bool>();
    if (t == "mapping") return !o.undef && o.j.is_object();
    if (t == "iterable") return !o.undef && (o.j.is_array() || o.j.is_object() || o.j.is_string());
    if (t == "sequence") return !o.undef && (o.j.is_array() || o.j.is_string() || o.j.is_object());
    if (t == "odd" || t == "even") {
      if (!o.j.is_number_integer()) template_error(e.line, "odd/even test on a non-integer");
      bool odd = (o.j.get<int64_t>() % 2) != 0;
      return t == "odd" ? odd : !odd;
    }
    unsupported(e.line, fmt::format("test 'is {}'", t));
  }

  static bool num(const J& j) { return j.is_number() || j.is_boolean(); }
  static double dbl(const J& j) { return j.is_boolean() ? (j.get<bool>() ? 1 : 0) : j.get<double>(); }
  static bool both_int(const J& a, const J& b) {
    return (a.is_number_integer() || a.is_boolean()) && (b.is_number_integer() || b.is_boolean());
  }
  static int64_t int_of(const J& j) { return j.is_boolean() ? (j.get<bool>() ? 1 : 0) : j.get<int64_t>(); }

  static bool equal(const Val& a, const Val& b) {
    if (a.undef || b.undef) return a.undef && b.undef;
    if (num(a.j) && num(b.j)) return dbl(a.j) == dbl(b.j);
    return a.j == b.j;
  }

  Val binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Val a = eval(*e.kids[0]);
      return truthy(a) ? eval(*e.kids[1]) : a;
    }
    if (op == "or") {
      Val a = eval(*e.kids[0]);
      return truthy(a) ? a : eval(*e.kids[1]);
    }
    Val a = eval(*e.kids[0]), b = eval(*e.kids[1]);
    if (op == "==") return val(equal(a, b));
    if (op == "!=") return val(!equal(a, b));
    if (op == "~") return checked(e.line, val(to_str(a) + to_str(b)));
    if (op == "in" || op == "not in") {
      bool r = false;
      if (b.j.is_string()) r = b.j.get<std::string>().find(to_str(a)) != std::string::npos;
      else if (b.j.is_array())
        for (auto& x : b.j) r = r || equal(val(x), a);
      else if (b.j.is_object()) r = a.j.is_string() && b.j.contains(a.j.get<std::string>());
      else template_error(e.line, "'in' on a value that is not a container");
      return val(op == "in" ? r : !r);
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (num(a.j) && num(b.j)) c = dbl(a.j) < dbl(b.j) ? -1 : dbl(a.j) > dbl(b.j) ? 1 : 0;
      else if (a.j.is_string() && b.j.is_string()) c = a.j.get<std::string>().compare(b.j.get<std::string>());
      else template_error(e.line, fmt::format("cannot compare with '{}'", op));
      bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
      return val(r);
    }
    if (op == "+") {
      if (a.j.is_string() && b.j.is_string()) return checked(e.line, val(a.j.get<std::string>() + b.j.get<std::string>()));
      if (a.j.is_array() && b.j.is_array()) {
        if (a.j.size() + b.j.size() > kMaxTemplateListItems)
          template_error(e.line, fmt::format("a list value exceeds {} items", kMaxTemplateListItems));
        J r = a.j;
        for (auto& x : b.j) r.push_back(x);
        return val(r);
      }
    }
    if (num(a.j) && num(b.j) && !a.undef && !b.undef) {
      if (op == "/") {
        if (dbl(b.j) == 0) template_error(e.line, "division by zero");
        return val(dbl(a.j) / dbl(b.j));
      }
      if (both_int(a.j, b.j)) {
        int64_t x = int_of(a.j), y = int_of(b.j);
        if ((op == "%" || op == "//") && y == 0) template_error(e.line, "division by zero");
        if (op == "+") return val(x + y);
        if (op == "-") return val(x - y);
        if (op == "*") return val(x * y);
        if (op == "%") return val(((x % y) + y) % y);
        if (op == "//") return val(static_cast<int64_t>(std::floor(static_cast<double>(x) / static_cast<double>(y))));
      } else {
        double x = dbl(a.j), y = dbl(b.j);
        if (op == "+") return val(x + y);
        if (op == "-") return val(x - y);
        if (op == "*") return val(x * y);
        if (op == "%") return val(std::fmod(std::fmod(x, y) + y, y));
        if (op == "//") return val(std::floor(x / y));
      }
    }
    if (op == "*" && a.j.is_string() && b.j.is_number_integer()) {
      const std::string& unit = a.j.get_ref<const std::string&>();
      const int64_t times = b.j.get<int64_t>();
      if (times > 0 && !unit.empty() && static_cast<uint64_t>(times) > kMaxTemplateOutputBytes / unit.size())
        template_error(e.line, fmt::format("string repetition beyond the {} byte limit", kMaxTemplateOutputBytes));
      std::string r;
      for (int64_t i = 0; i < times; ++i) r += unit;
      return val(r);
    }
    template_error(e.line, fmt::format("unsupported operand types for {}: {} and {}", op,
                                       a.undef ? "undefined" : a.j.type_name(), b.undef ? "undefined" : b.j.type_name()));
  }

  std::vector<std::map<std::string, J>> scopes_;
  int64_t iterations_ = 0;
  int eval_depth_ = 0;
};

}  // namespace

struct ChatTemplate::Impl {
  std::vector<Node> nodes;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->nodes = TemplateParser(split_template(source)).parse_all();
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  Renderer r(context);
  std::string out;
  r.run(impl_->nodes, out);
  return out;
}

std::string apply_chat_template(const Tokenizer& tok, const nlohmann::ordered_json& messages, const ChatOptions& opt) {
  const auto& ct = tok.config().chat_template;
  std::string source = opt.source;
  if (!source.empty()) {
  } else if (ct.is_string()) {
    source = ct.get<std::string>();
  } else if (ct.is_array()) {
    std::string want = opt.template_name.empty() ? "default" : opt.template_name;
    for (auto& t : ct)
      if (t.value("name", "") == want) source = t.value("template", "");
    IA_CHECK(!source.empty(), ErrorKind::NotFound, "tokenizer has no chat template named '{}'", want);
  } else {
    fail(ErrorKind::NotFound, "tokenizer_config.json has no chat_template");
  }
  J ctx = J::object();
  for (auto it = tok.config().raw.begin(); it != tok.config().raw.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() > 6 && k.compare(k.size() - 6, 6, "_token") == 0) {
      if (it.value().is_string()) ctx[k] = it.value().get<std::string>();
      else if (it.value().is_object() && it.value().contains("content")) ctx[k] = it.value()["content"];
      else if (it.value().is_null()) ctx[k] = nullptr;
    }
  }
  ctx["messages"] = messages;
  ctx["tools"] = opt.tools;
  ctx["add_generation_prompt"] = opt.add_generation_prompt;
  for (auto it = opt.extra.begin(); it != opt.extra.end(); ++it) ctx[it.key()] = it.value();
  return ChatTemplate(source).render(ctx);
}

}  // namespace ia::text
