/* simd.cc - simdjson behind a C API: validate a JSON document and replay it as events. */
/*
 * Why C++ in a C program: simdjson checks an 8 KB admission review in about 2 us, where yajl's
 * streaming parser (the reader before it) took 9 and a json-c tree 50, and no C library in
 * Debian 12 comes near (json-c, yajl, jansson, cJSON). This file is the only C++: exceptions and
 * RTTI are off, and nothing but plain C types crosses into C.
 */
#define SIMDJSON_EXCEPTIONS 0
#include <mutex>
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
 * A parser's buffers take up to fifteen bytes a byte of text (tape 8, structural indexes 4,
 * strings 5/3, the padded copy 1); pages are touched as far as the text needs them, so an 8 MiB
 * array of small numbers costs about 105 MiB of RSS and an 8 MiB string about 17 (`bmhguard
 * review`, beside yajl's streaming read). Reviews come back to back on a few server threads, so each thread keeps one parser
 * for texts up to REUSE_MAX and allocates it once, not per request: allocating and freeing the
 * buffers each time showed in perf above simdjson's own first stage. A larger text gets a parser
 * of its own, freed with it (`bmhguard serve` has glibc hand such buffers back to the system),
 * and only one such parser exists at a time (big_parse), so the process needs room for one
 * maximal body's parse, not one per thread.
 */
constexpr size_t REUSE_MAX = 64 * 1024;
std::mutex big_parse;

/* Parse with parser (grown if need be, never shrunk), then walk. */
simd_status
read_with(simdjson::dom::parser &parser, const char *text, size_t len, size_t max_depth,
    const simd_events *ev, void *ctx, const char **why)
{
	simdjson::error_code code = simdjson::SUCCESS;
	element root;

	/* capacity at least 1: simdjson allocates nothing for 0, and the empty text gets EMPTY */
	if (parser.capacity() < len || parser.capacity() == 0 || parser.max_depth() != max_depth)
		code = parser.allocate(len > parser.capacity() ? len : parser.capacity() > 0 ?
		    parser.capacity() : 1, max_depth);
	if (code == simdjson::SUCCESS)
		code = parser.parse(text, len, true).get(root);
	if (code != simdjson::SUCCESS) {
		*why = simdjson::error_message(code);
		return status_of(code);
	}
	return walk_value(walk{ ev, ctx }, root) ? SIMD_OK : SIMD_STOPPED;
}

} // namespace

extern "C" simd_status
simd_read(const char *text, size_t len, size_t max_depth, const simd_events *ev, void *ctx,
    const char **why)
{
	static thread_local simdjson::dom::parser reused;

	*why = NULL;
	if (len <= REUSE_MAX)
		return read_with(reused, text, len, max_depth, ev, ctx, why);
	std::lock_guard<std::mutex> one_at_a_time(big_parse);
	simdjson::dom::parser own;	/* destroyed before the lock is released */

	return read_with(own, text, len, max_depth, ev, ctx, why);
}
