/* simd.cc - simdjson behind a C API: validate a JSON document and replay it as events. */
/*
 * Why C++ in a C program: simdjson checks an 8 KB admission review in about 2 us, where yajl's
 * streaming parser (the reader before it) took 9 and a json-c tree 50, and no C library in
 * Debian 12 comes near (json-c, yajl, jansson, cJSON). This file is the only C++: exceptions and
 * RTTI are off, and nothing but plain C types crosses into C.
 */
#define SIMDJSON_EXCEPTIONS 0
#include <simdjson.h>

#include "simd.h"

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

struct walk {
	const simd_events *ev;
	void *ctx;
};

/* Depth is bounded by the parser's max_depth, so the recursion is too. */
bool
walk_value(const walk &w, element e)
{
	simdjson::dom::object object;
	simdjson::dom::array array;
	std::string_view s;
	int next;

	switch (e.type()) {
	case element_type::OBJECT:
		if (e.get(object) != simdjson::SUCCESS || (next = w.ev->open(w.ctx, 1)) == SIMD_STOP)
			return false;
		if (next == SIMD_SKIP)
			return true;
		for (simdjson::dom::key_value_pair kv : object) {
			if (!w.ev->key(w.ctx, kv.key.data(), kv.key.size()) || !walk_value(w, kv.value))
				return false;
		}
		return w.ev->close(w.ctx) != 0;
	case element_type::ARRAY:
		if (e.get(array) != simdjson::SUCCESS || (next = w.ev->open(w.ctx, 0)) == SIMD_STOP)
			return false;
		if (next == SIMD_SKIP)
			return true;
		for (element child : array) {
			if (!walk_value(w, child))
				return false;
		}
		return w.ev->close(w.ctx) != 0;
	case element_type::STRING:
		return e.get(s) == simdjson::SUCCESS && w.ev->string(w.ctx, s.data(), s.size()) != 0;
	default:
		return w.ev->scalar(w.ctx) != 0;
	}
}

simd_status
status_of(simdjson::error_code code)
{
	switch (code) {
	case simdjson::MEMALLOC:
		return SIMD_NOMEM;
	case simdjson::DEPTH_ERROR:
		return SIMD_TOO_DEEP;
	case simdjson::NUMBER_ERROR:
	case simdjson::STRING_ERROR:
		return SIMD_OUT_OF_RANGE;
	default:
		return SIMD_INVALID;
	}
}

/*
 * A parser's buffers take about fifteen bytes a byte of text (tape 8, structural indexes 4,
 * strings 5/3, the padded copy 1). Reviews come back to back on a few server threads, so each
 * thread keeps one parser and allocates them once, not per request: allocating and freeing them
 * each time showed in perf above simdjson's own first stage. A text above REUSE_MAX gets a parser
 * of its own, freed with it, so a rare 8 MiB body does not leave ~120 MiB to its thread.
 */
constexpr size_t REUSE_MAX = 256 * 1024;

simdjson::error_code
parse_with(simdjson::dom::parser &parser, const char *text, size_t len, size_t max_depth,
    element *root)
{
	simdjson::error_code code;

	/* capacity at least 1: simdjson allocates nothing for 0, and the empty text gets EMPTY */
	if (parser.capacity() < len || parser.capacity() == 0 || parser.max_depth() != max_depth) {
		code = parser.allocate(len > parser.capacity() ? len : parser.capacity() > 0 ?
		    parser.capacity() : 1, max_depth);
		if (code != simdjson::SUCCESS)
			return code;
	}
	return parser.parse(text, len, true).get(*root);
}

} // namespace

extern "C" simd_status
simd_read(const char *text, size_t len, size_t max_depth, const simd_events *ev, void *ctx,
    const char **why)
{
	static thread_local simdjson::dom::parser reused;
	simdjson::dom::parser own;
	simdjson::error_code code;
	element root;

	*why = NULL;
	code = parse_with(len <= REUSE_MAX ? reused : own, text, len, max_depth, &root);
	if (code != simdjson::SUCCESS) {
		*why = simdjson::error_message(code);
		return status_of(code);
	}
	return walk_value(walk{ ev, ctx }, root) ? SIMD_OK : SIMD_STOPPED;
}
