/* test_kinds.c - the kind table in src/kinds.c: every row findable, every path where review.c expects it. */
#include <stdlib.h>

#include "check.h"
#include "kinds.h"

/* Whether kinds_reads[r] starts with "request", top. */
static int
under(enum kinds_read r, const char *top)
{
	return kinds_reads[r].depth > 2 && strcmp(kinds_reads[r].keys[0], "request") == 0 &&
	    strcmp(kinds_reads[r].keys[1], top) == 0;
}

int
main(void)
{
	size_t n, i, j;
	const struct kinds_row *rows = kinds_rows(&n);

	CHECK(n == 5, "five kinds (got %zu)", n);
	for (i = 0; i < n; i++) {
		const struct kinds_row *k = &rows[i];

		CHECK(kinds_find(k->group, k->kind) == k, "%s/%s found", k->group, k->kind);
		CHECK(k->nfields > 0 || k->list != NULL, "%s rewrites something", k->kind);
		for (j = 0; j < k->nfields; j++) {
			CHECK(under(k->fields[j].read, "object"), "%s field %zu is in request.object",
			    k->kind, j);
			CHECK(k->fields[j].follows == (j > 0), "%s: the url first, its checksum follows",
			    k->kind);
		}
		/* a guarded kind reads what is in use from both objects, and says why in warnings */
		CHECK((k->in_use == KR_NONE) == (k->old_in_use == KR_NONE), "%s: both or neither",
		    k->kind);
		if (k->in_use != KR_NONE)
			CHECK(under(k->in_use, "object") && under(k->old_in_use, "oldObject") &&
			    kinds_reads[k->in_use].depth == kinds_reads[k->old_in_use].depth,
			    "%s: in use read from object and oldObject", k->kind);
		if (k->in_use != KR_NONE || k->list != NULL)
			CHECK(k->withheld_why && k->withheld_hint && k->withheld_audit,
			    "%s: a withhold is explained", k->kind);
		if (k->list != NULL)
			CHECK(k->list->spec_depth == 2 && k->list->key && k->list->url,
			    "%s: list at a two-key path", k->kind);
		CHECK(k->unnamed != NULL, "%s: a name for unnamed objects", k->kind);
	}
	CHECK(kinds_find("metal3.io", "BareMetalHost")->status_annotation, "host: annotation follows");
	CHECK(kinds_find("metal3.io", "Metal3Machine") == NULL, "group and kind both match");
	CHECK(kinds_find("infrastructure.cluster.x-k8s.io", "Metal3Cluster") == NULL,
	    "Metal3Cluster is not ours");
	CHECK(kinds_find(NULL, NULL) == NULL, "absent group and kind");
	return CHECK_DONE();
}
