// SPDX-License-Identifier: MIT
// A restricted, inert Python unpickler: it builds a graph of plain values and never calls anything.
//
// Supported: every opcode of protocols 0-5 that torch.save (protocol 2 by default, any protocol on
// request) can emit — PROTO, FRAME, MARK/POP/DUP, ints (text, BININT*, LONG1/4), floats, strings
// and bytes, tuples/lists/dicts/sets, GLOBAL and STACK_GLOBAL, REDUCE/NEWOBJ/NEWOBJ_EX/BUILD,
// INST/OBJ, the memo (PUT/GET, BINPUT/BINGET, LONG_*, MEMOIZE) and persistent ids. Refused:
// protocol-0 quoted strings (STRING/UNICODE), extension registry codes, out-of-band buffers.
//
// Inert semantics:
//   GLOBAL m n            -> a Global value {module m, name n}; nothing is imported
//   REDUCE f args         -> an Object {cls f, args}, except a few containers whose meaning we need:
//                            collections.OrderedDict/defaultdict -> Dict, set/frozenset -> Set,
//                            torch.Size -> Tuple, _codecs.encode(s, 'latin1') -> Bytes,
//                            copyreg._reconstructor(cls, ...) -> Object {cls}
//   NEWOBJ cls args       -> an Object {cls, args}
//   BUILD state           -> Object.state = state (ignored on non-objects)
//   BINPERSID pid         -> a PersId value wrapping pid (the caller resolves it)
// Objects may also receive SETITEMS/APPENDS (dict and list subclasses); they are kept in order.
//
// PyObject is deliberately not io::Json, the library's value tree: it is the unpickling machine's own
// object model (tuples, globals, persistent ids, objects with state, integers of any size, cycles
// through the memo), which only checkpoint.hpp reads, turning what it needs into tensors, yaml text
// and JSON metadata.
//
// Memory: all values live in one arena owned by the returned Pickle (cycles are harmless), and
// pointers stay valid as long as it does. Limits bound the number of values, the memo, the stack
// and MARK nesting; strings are never longer than the bytes that remain. Errors are FormatError /
// LimitError "<label>: pickle byte <offset> (<opcode>): <what>".
#pragma once
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "json.hpp"

namespace yv9::io {

struct PickleLimits {
  std::size_t max_objects = std::size_t(1) << 23;  // values created (each ~200 bytes)
  std::size_t max_memo = std::size_t(1) << 23;
  std::size_t max_stack = std::size_t(1) << 20;
  std::size_t max_marks = std::size_t(1) << 16;    // MARK nesting
  std::size_t max_items = std::size_t(1) << 25;    // total slots in all containers
};

enum class PyKind : std::uint8_t { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Set, Global, Object, PersId };

inline const char* py_kind_name(PyKind k) {
  switch (k) {
    case PyKind::None: return "None";
    case PyKind::Bool: return "bool";
    case PyKind::Int: return "int";
    case PyKind::BigInt: return "int (> 64 bits)";
    case PyKind::Float: return "float";
    case PyKind::Str: return "str";
    case PyKind::Bytes: return "bytes";
    case PyKind::Tuple: return "tuple";
    case PyKind::List: return "list";
    case PyKind::Dict: return "dict";
    case PyKind::Set: return "set";
    case PyKind::Global: return "global";
    case PyKind::Object: return "object";
    case PyKind::PersId: return "persistent id";
  }
  return "?";
}

struct PyObject {
  // Dict keys up to this length are hashed (Python dict semantics); longer ones are only appended,
  // which bounds the cost of hostile inputs that repeat a huge key.
  static constexpr std::size_t kMaxIndexedKey = 256;

  PyKind kind = PyKind::None;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                                    // Str, Bytes; Global: module
  std::string name;                                    // Global: attribute name
  std::vector<PyObject*> items;                        // Tuple, List, Set; Object: appended items; PersId: [pid]
  std::vector<std::pair<PyObject*, PyObject*>> entries;  // Dict (ordered); Object: set items
  PyObject* cls = nullptr;                             // Object: callable/class; Dict: OrderedDict etc. or null
  PyObject* args = nullptr;                            // Object: argument tuple
  PyObject* state = nullptr;                           // Object: BUILD state (usually the instance __dict__)
  std::unique_ptr<std::unordered_map<std::string, std::size_t>> key_index;  // Dict: hashable key -> entry

  bool is(PyKind k) const { return kind == k; }
  bool is_global(std::string_view module, std::string_view attr) const {
    return kind == PyKind::Global && text == module && name == attr;
  }
  // "module.name" of a Global, or of an Object's class; "" otherwise.
  std::string class_name() const {
    if (kind == PyKind::Global) return text + "." + name;
    if (kind == PyKind::Object && cls && cls->kind == PyKind::Global) return cls->text + "." + cls->name;
    return "";
  }
  // Dict entry / object attribute with a str key; nullptr if absent.
  const PyObject* get(std::string_view key) const {
    if (kind == PyKind::Dict) return dict_get(key);
    if (kind != PyKind::Object) return nullptr;
    const PyObject* st = state;
    if (st && st->kind == PyKind::Tuple && !st->items.empty()) st = st->items[0];  // (dict, slotstate)
    if (st && st->kind == PyKind::Dict)
      if (const PyObject* v = st->dict_get(key)) return v;
    return find_str_key(entries, key);
  }
  // A short description for error messages: int 3, str 'abc', dict of 2, object models.common.Conv ...
  std::string describe() const {
    switch (kind) {
      case PyKind::Bool: return boolean ? "True" : "False";
      case PyKind::Int: return "int " + std::to_string(integer);
      case PyKind::Float: return "float " + json_number(real);
      case PyKind::Str: return "str " + json_quote(text.size() > 40 ? text.substr(0, 40) + "..." : text);
      case PyKind::Tuple: case PyKind::List: case PyKind::Set:
        return std::string(py_kind_name(kind)) + " of " + std::to_string(items.size());
      case PyKind::Dict: return "dict of " + std::to_string(entries.size());
      case PyKind::Global: return "global " + class_name();
      case PyKind::Object: return "object " + (class_name().empty() ? std::string("?") : class_name());
      default: return py_kind_name(kind);
    }
  }

 private:
  const PyObject* dict_get(std::string_view key) const {
    if (key_index && key.size() <= kMaxIndexedKey) {
      auto it = key_index->find("s" + std::string(key));
      return it == key_index->end() ? nullptr : entries[it->second].second;
    }
    return find_str_key(entries, key);
  }
  static const PyObject* find_str_key(const std::vector<std::pair<PyObject*, PyObject*>>& es, std::string_view key) {
    for (const auto& kv : es)
      if (kv.first->kind == PyKind::Str && kv.first->text == key) return kv.second;
    return nullptr;
  }
};

// The result of unpickling: the arena that owns every value, and the root value.
struct Pickle {
  std::deque<PyObject> arena;
  const PyObject* root = nullptr;
};

namespace detail {

inline const char* pickle_op_name(std::uint8_t op) {
  switch (op) {
    case 0x80: return "PROTO"; case 0x95: return "FRAME"; case '.': return "STOP"; case '(': return "MARK";
    case '0': return "POP"; case '1': return "POP_MARK"; case '2': return "DUP"; case 'N': return "NONE";
    case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE"; case 'I': return "INT"; case 'J': return "BININT";
    case 'K': return "BININT1"; case 'M': return "BININT2"; case 'L': return "LONG"; case 0x8a: return "LONG1";
    case 0x8b: return "LONG4"; case 'F': return "FLOAT"; case 'G': return "BINFLOAT"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'X': return "BINUNICODE"; case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES"; case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8"; case ')': return "EMPTY_TUPLE"; case 't': return "TUPLE"; case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3"; case ']': return "EMPTY_LIST"; case 'l': return "LIST";
    case 'a': return "APPEND"; case 'e': return "APPENDS"; case '}': return "EMPTY_DICT"; case 'd': return "DICT";
    case 's': return "SETITEM"; case 'u': return "SETITEMS"; case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET"; case 'c': return "GLOBAL"; case 0x93: return "STACK_GLOBAL"; case 'i': return "INST";
    case 'o': return "OBJ"; case 'R': return "REDUCE"; case 0x81: return "NEWOBJ"; case 0x92: return "NEWOBJ_EX";
    case 'b': return "BUILD"; case 'p': return "PUT"; case 'q': return "BINPUT"; case 'r': return "LONG_BINPUT";
    case 0x94: return "MEMOIZE"; case 'g': return "GET"; case 'h': return "BINGET"; case 'j': return "LONG_BINGET";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 0x82: return "EXT1"; case 0x83: return "EXT2";
    case 0x84: return "EXT4"; case 0x97: return "NEXT_BUFFER"; case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

class Unpickler {
 public:
  Unpickler(const std::uint8_t* data, std::size_t size, const std::string& label, const PickleLimits& limits)
      : p_(data), n_(size), label_(label), lim_(limits), out_(std::make_unique<Pickle>()) {}

  std::unique_ptr<Pickle> run() {
    while (!done_) {
      if (pos_ >= n_)
        throw FormatError(label_ + ": pickle ends at byte " + std::to_string(n_) + " without a STOP opcode (truncated?)");
      op_pos_ = pos_;
      op_ = p_[pos_++];
      step();
    }
    return std::move(out_);
  }

 private:
  // ---- errors and raw input ------------------------------------------------------------------
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(where() + what); }
  [[noreturn]] void fail_limit(const std::string& what) const { throw LimitError(where() + what); }
  std::string where() const {
    const char* nm = pickle_op_name(op_);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", op_);
    return label_ + ": pickle byte " + std::to_string(op_pos_) + " (" + (nm ? nm : hex) + "): ";
  }
  std::size_t left() const { return n_ - pos_; }
  void need(std::uint64_t k) const {
    if (k > left()) fail("truncated: needs " + std::to_string(k) + " bytes, " + std::to_string(left()) + " left");
  }
  std::uint64_t read_le(int bytes) {
    need(static_cast<std::uint64_t>(bytes));
    std::uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p_[pos_ + static_cast<std::size_t>(k)];
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::string_view read_bytes(std::uint64_t k) {
    need(k);
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(k));
    pos_ += static_cast<std::size_t>(k);
    return s;
  }
  std::string_view read_line() {
    const void* nl = std::memchr(p_ + pos_, '\n', left());
    if (!nl) fail("truncated: no end of line");
    const std::size_t len = static_cast<const std::uint8_t*>(nl) - (p_ + pos_);
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len + 1;
    return s;
  }

  // ---- values, stack, memo --------------------------------------------------------------------
  PyObject* make(PyKind k) {
    if (out_->arena.size() >= lim_.max_objects)
      fail_limit("more than " + std::to_string(lim_.max_objects) + " values");
    out_->arena.emplace_back();
    out_->arena.back().kind = k;
    return &out_->arena.back();
  }
  PyObject* make_int(std::int64_t v) {
    PyObject* o = make(PyKind::Int);
    o->integer = v;
    return o;
  }
  PyObject* make_text(PyKind k, std::string_view s) {
    if (k == PyKind::Str && !is_valid_utf8(s)) fail("string is not valid UTF-8");
    PyObject* o = make(k);
    o->text.assign(s.data(), s.size());
    return o;
  }
  std::size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PyObject* o) {
    if (stack_.size() >= lim_.max_stack) fail_limit("stack deeper than " + std::to_string(lim_.max_stack));
    stack_.push_back(o);
  }
  PyObject* top() const {
    if (stack_.size() <= frame_base()) fail("stack underflow");
    return stack_.back();
  }
  PyObject* pop() {
    PyObject* o = top();
    stack_.pop_back();
    return o;
  }
  std::vector<PyObject*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const std::size_t base = marks_.back();
    marks_.pop_back();
    std::vector<PyObject*> items(stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
    stack_.resize(base);
    return items;
  }
  void charge(std::size_t n) {
    items_ += n;
    if (items_ > lim_.max_items) fail_limit("containers hold more than " + std::to_string(lim_.max_items) + " items");
  }
  void memo_put(std::uint64_t idx) {
    PyObject* o = top();
    if (memo_.size() >= lim_.max_memo && !memo_.count(idx))
      fail_limit("memo larger than " + std::to_string(lim_.max_memo) + " entries");
    memo_[idx] = o;
  }
  void memo_get(std::uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo key " + std::to_string(idx) + " was never stored");
    push(it->second);
  }

  // ---- containers ------------------------------------------------------------------------------
  // Python dict semantics for hashable scalar keys (a repeated key replaces the value in place);
  // other keys (tuples, objects) are appended.
  static bool key_signature(const PyObject* k, std::string& sig) {
    switch (k->kind) {
      case PyKind::Str:
      case PyKind::Bytes:
        if (k->text.size() > PyObject::kMaxIndexedKey) return false;
        sig = (k->kind == PyKind::Str ? "s" : "b") + k->text;
        return true;
      case PyKind::Int: sig = "i" + std::to_string(k->integer); return true;
      case PyKind::Bool: sig = k->boolean ? "i1" : "i0"; return true;  // True == 1 as a key
      case PyKind::None: sig = "n"; return true;
      default: return false;
    }
  }
  void set_item(PyObject* target, PyObject* key, PyObject* value) {
    if (target->kind == PyKind::Object) {
      charge(1);
      target->entries.emplace_back(key, value);
      return;
    }
    if (target->kind != PyKind::Dict) fail(std::string("cannot set an item on a ") + py_kind_name(target->kind));
    charge(1);
    std::string sig;
    if (key_signature(key, sig)) {
      if (!target->key_index) target->key_index = std::make_unique<std::unordered_map<std::string, std::size_t>>();
      auto ins = target->key_index->emplace(std::move(sig), target->entries.size());
      if (!ins.second) {
        target->entries[ins.first->second].second = value;
        return;
      }
    }
    target->entries.emplace_back(key, value);
  }
  void append(PyObject* target, PyObject* value) {
    if (target->kind != PyKind::List && target->kind != PyKind::Object)
      fail(std::string("cannot append to a ") + py_kind_name(target->kind));
    charge(1);
    target->items.push_back(value);
  }
  PyObject* make_tuple(std::vector<PyObject*> items) {
    PyObject* t = make(PyKind::Tuple);
    charge(items.size());
    t->items = std::move(items);
    return t;
  }
  PyObject* make_dict_from(const std::vector<PyObject*>& kv) {
    if (kv.size() % 2) fail("odd number of items for a dict");
    PyObject* d = make(PyKind::Dict);
    for (std::size_t i = 0; i < kv.size(); i += 2) set_item(d, kv[i], kv[i + 1]);
    return d;
  }

  // ---- globals and calls (all inert) -----------------------------------------------------------
  PyObject* make_global(std::string_view module, std::string_view attr) {
    PyObject* g = make(PyKind::Global);
    g->text.assign(module.data(), module.size());
    g->name.assign(attr.data(), attr.size());
    // Python 2 names, as the protocol-2 pickler writes them, normalised to Python 3.
    if (g->text == "__builtin__") g->text = "builtins";
    if (g->text == "copy_reg") g->text = "copyreg";
    return g;
  }
  static bool is_dict_type(const PyObject* f) {
    return f->is_global("collections", "OrderedDict") || f->is_global("collections", "defaultdict") ||
           f->is_global("builtins", "dict");
  }
  static bool is_set_type(const PyObject* f) {
    return f->is_global("builtins", "set") || f->is_global("builtins", "frozenset");
  }
  PyObject* make_object(PyObject* cls, PyObject* args) {
    PyObject* o = make(PyKind::Object);
    o->cls = cls;
    o->args = args;
    return o;
  }
  // latin-1 text (as _codecs.encode receives it) back to the original bytes.
  PyObject* latin1_bytes(const std::string& utf8) {
    std::string out;
    const auto* s = reinterpret_cast<const unsigned char*>(utf8.data());
    for (std::size_t i = 0; i < utf8.size();) {
      if (s[i] < 0x80) {
        out += static_cast<char>(s[i++]);
      } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < utf8.size() && s[i] <= 0xC3) {
        out += static_cast<char>(((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
        i += 2;
      } else {
        fail("_codecs.encode: text is not latin-1");
      }
    }
    PyObject* b = make(PyKind::Bytes);
    b->text = std::move(out);
    return b;
  }
  PyObject* call(PyObject* f, PyObject* args) {
    const bool tuple_args = args->kind == PyKind::Tuple;
    const std::size_t nargs = tuple_args ? args->items.size() : 0;
    if (is_dict_type(f)) {
      PyObject* d = make(PyKind::Dict);
      d->cls = f;
      if (nargs == 1 && (args->items[0]->kind == PyKind::List || args->items[0]->kind == PyKind::Tuple))
        for (PyObject* pair : args->items[0]->items)
          if ((pair->kind == PyKind::Tuple || pair->kind == PyKind::List) && pair->items.size() == 2)
            set_item(d, pair->items[0], pair->items[1]);
      return d;
    }
    if (is_set_type(f)) {
      PyObject* s = make(PyKind::Set);
      if (nargs == 1) {
        PyObject* src = args->items[0];
        if (src->kind == PyKind::List || src->kind == PyKind::Tuple || src->kind == PyKind::Set) {
          charge(src->items.size());
          s->items = src->items;
        }
      }
      return s;
    }
    if (f->is_global("torch", "Size") && nargs == 1 && args->items[0]->kind == PyKind::Tuple) return args->items[0];
    if (f->is_global("_codecs", "encode") && nargs == 2 && args->items[0]->kind == PyKind::Str)
      return latin1_bytes(args->items[0]->text);
    if (f->is_global("copyreg", "_reconstructor") && nargs >= 1) return make_object(args->items[0], args);
    return make_object(f, args);
  }
  // Python would update the instance __dict__; pickles never BUILD an object twice, so a second
  // BUILD simply replaces the state (merging would let hostile input copy big dicts repeatedly).
  void build(PyObject* obj, PyObject* state) {
    if (obj->kind == PyKind::Object) obj->state = state;  // ignored on dicts etc.
  }

  // ---- opcode groups -----------------------------------------------------------------------------
  void op_long(std::uint64_t nbytes) {
    const std::string_view b = read_bytes(nbytes);
    if (nbytes > 8) {
      push(make(PyKind::BigInt));
      return;
    }
    std::uint64_t v = 0;
    for (std::size_t k = b.size(); k-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(b[k]);
    if (nbytes > 0 && nbytes < 8 && (static_cast<std::uint8_t>(b.back()) & 0x80)) v |= ~std::uint64_t(0) << (8 * nbytes);
    push(make_int(static_cast<std::int64_t>(v)));
  }
  void push_decimal(std::string_view s) {
    if (s == "01" || s == "00") {  // protocol-0 booleans
      PyObject* o = make(PyKind::Bool);
      o->boolean = s == "01";
      push(o);
      return;
    }
    if (!s.empty() && s.back() == 'L') s.remove_suffix(1);  // LONG's trailing L
    std::int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ptr != s.data() + s.size() || s.empty()) fail("invalid integer literal");
    if (r.ec == std::errc::result_out_of_range) push(make(PyKind::BigInt));
    else push(make_int(v));
  }
  void op_float_text() {
    const std::string_view s = read_line();
    double d = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail("invalid float literal");
    PyObject* o = make(PyKind::Float);
    o->real = d;
    push(o);
  }
  void op_binfloat() {
    need(8);
    std::uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits = (bits << 8) | p_[pos_ + static_cast<std::size_t>(k)];  // big-endian
    pos_ += 8;
    PyObject* o = make(PyKind::Float);
    std::memcpy(&o->real, &bits, 8);
    push(o);
  }
  void op_tuple_n(std::size_t n) {
    if (stack_.size() < frame_base() + n) fail("stack underflow");
    std::vector<PyObject*> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    push(make_tuple(std::move(items)));
  }
  void op_setitems() {
    std::vector<PyObject*> kv = pop_mark();
    if (kv.size() % 2) fail("odd number of items");
    PyObject* target = top();
    for (std::size_t i = 0; i < kv.size(); i += 2) set_item(target, kv[i], kv[i + 1]);
  }
  void op_appends() {
    std::vector<PyObject*> items = pop_mark();
    PyObject* target = top();
    for (PyObject* v : items) append(target, v);
  }
  void op_additems() {
    std::vector<PyObject*> items = pop_mark();
    PyObject* target = top();
    if (target->kind != PyKind::Set) fail(std::string("ADDITEMS on a ") + py_kind_name(target->kind));
    charge(items.size());
    for (PyObject* v : items) target->items.push_back(v);
  }
  void op_global() {
    const std::string_view module = read_line();
    const std::string_view attr = read_line();
    push(make_global(module, attr));
  }
  void op_stack_global() {
    PyObject* attr = pop();
    PyObject* module = pop();
    if (module->kind != PyKind::Str || attr->kind != PyKind::Str) fail("module and name must be strings");
    push(make_global(module->text, attr->text));
  }
  void op_inst() {
    const std::string_view module = read_line();
    const std::string_view attr = read_line();
    PyObject* cls = make_global(module, attr);
    push(make_object(cls, make_tuple(pop_mark())));
  }
  void op_obj() {
    std::vector<PyObject*> items = pop_mark();
    if (items.empty()) fail("OBJ without a class");
    PyObject* cls = items.front();
    items.erase(items.begin());
    push(make_object(cls, make_tuple(std::move(items))));
  }
  void op_newobj(bool with_kwargs) {
    if (with_kwargs) pop();
    PyObject* args = pop();
    PyObject* cls = pop();
    push(is_dict_type(cls) || is_set_type(cls) ? call(cls, args) : make_object(cls, args));
  }
  void op_reduce() {
    PyObject* args = pop();
    PyObject* f = pop();
    push(call(f, args));
  }
  void op_build() {
    PyObject* state = pop();
    build(top(), state);
  }
  void op_persid(PyObject* pid) {
    PyObject* o = make(PyKind::PersId);
    o->items.push_back(pid);
    push(o);
  }
  void op_mark() {
    if (marks_.size() >= lim_.max_marks) fail_limit("MARK nesting deeper than " + std::to_string(lim_.max_marks));
    marks_.push_back(stack_.size());
  }
  void op_stop() {
    out_->root = pop();
    done_ = true;
  }
  void op_text(PyKind k, std::uint64_t len) { push(make_text(k, read_bytes(len))); }
  std::uint64_t decimal_line() {
    const std::string_view s = read_line();
    std::uint64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty()) fail("invalid memo index");
    return v;
  }

  void step() {
    switch (op_) {
      case 0x80: read_le(1); break;                 // PROTO: any version is fine, unknown opcodes fail below
      case 0x95: read_le(8); break;                 // FRAME: a size hint only
      case '.': op_stop(); break;
      case '(': op_mark(); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(make(PyKind::None)); break;
      case 0x88: case 0x89: {
        PyObject* o = make(PyKind::Bool);
        o->boolean = op_ == 0x88;
        push(o);
        break;
      }
      case 'I': case 'L': push_decimal(read_line()); break;
      case 'J': push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4))))); break;
      case 'K': push(make_int(static_cast<std::int64_t>(read_le(1)))); break;
      case 'M': push(make_int(static_cast<std::int64_t>(read_le(2)))); break;
      case 0x8a: op_long(read_le(1)); break;
      case 0x8b: op_long(read_le(4)); break;
      case 'F': op_float_text(); break;
      case 'G': op_binfloat(); break;
      case 'X': op_text(PyKind::Str, read_le(4)); break;
      case 0x8c: op_text(PyKind::Str, read_le(1)); break;
      case 0x8d: op_text(PyKind::Str, read_le(8)); break;
      case 'T': {  // BINSTRING: signed length; decoded as UTF-8 like torch.load(encoding='utf-8')
        const auto len = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)));
        if (len < 0) fail("negative string length");
        op_text(PyKind::Str, static_cast<std::uint64_t>(len));
        break;
      }
      case 'U': op_text(PyKind::Str, read_le(1)); break;
      case 'B': op_text(PyKind::Bytes, read_le(4)); break;
      case 'C': op_text(PyKind::Bytes, read_le(1)); break;
      case 0x8e: case 0x96: op_text(PyKind::Bytes, read_le(8)); break;
      case ')': push(make(PyKind::Tuple)); break;
      case 't': push(make_tuple(pop_mark())); break;
      case 0x85: op_tuple_n(1); break;
      case 0x86: op_tuple_n(2); break;
      case 0x87: op_tuple_n(3); break;
      case ']': push(make(PyKind::List)); break;
      case 'l': {
        PyObject* l = make(PyKind::List);
        l->items = pop_mark();
        charge(l->items.size());
        push(l);
        break;
      }
      case 'a': {
        PyObject* v = pop();
        append(top(), v);
        break;
      }
      case 'e': op_appends(); break;
      case '}': push(make(PyKind::Dict)); break;
      case 'd': push(make_dict_from(pop_mark())); break;
      case 's': {
        PyObject* v = pop();
        PyObject* k = pop();
        set_item(top(), k, v);
        break;
      }
      case 'u': op_setitems(); break;
      case 0x8f: push(make(PyKind::Set)); break;
      case 0x90: op_additems(); break;
      case 0x91: {
        PyObject* s = make(PyKind::Set);
        s->items = pop_mark();
        charge(s->items.size());
        push(s);
        break;
      }
      case 'c': op_global(); break;
      case 0x93: op_stack_global(); break;
      case 'i': op_inst(); break;
      case 'o': op_obj(); break;
      case 'R': op_reduce(); break;
      case 0x81: op_newobj(false); break;
      case 0x92: op_newobj(true); break;
      case 'b': op_build(); break;
      case 'p': memo_put(decimal_line()); break;
      case 'q': memo_put(read_le(1)); break;
      case 'r': memo_put(read_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'g': memo_get(decimal_line()); break;
      case 'h': memo_get(read_le(1)); break;
      case 'j': memo_get(read_le(4)); break;
      case 'P': op_persid(make_text(PyKind::Str, read_line())); break;
      case 'Q': op_persid(pop()); break;
      case 'S': case 'V': fail("protocol-0 text strings are not supported; save with torch.save (protocol 2)");
      default: {
        const char* nm = pickle_op_name(op_);
        fail(nm ? "opcode not supported by this reader" : "unknown opcode (corrupt data?)");
      }
    }
  }

  const std::uint8_t* p_;
  std::size_t n_;
  const std::string& label_;
  PickleLimits lim_;
  std::unique_ptr<Pickle> out_;
  std::vector<PyObject*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PyObject*> memo_;
  std::size_t pos_ = 0, op_pos_ = 0, items_ = 0;
  std::uint8_t op_ = 0;
  bool done_ = false;
};

}  // namespace detail

// Unpickles data[0, size) without executing anything; label names the source in errors.
inline std::unique_ptr<Pickle> unpickle(const std::uint8_t* data, std::size_t size, const std::string& label,
                                        const PickleLimits& limits = {}) {
  return detail::Unpickler(data, size, label, limits).run();
}

}  // namespace yv9::io
