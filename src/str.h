/* str.h - string predicates with one meaning for NULL: an absent string reads as "". */
#ifndef BMHGUARD_STR_H
#define BMHGUARD_STR_H

#include <string.h>

/* Whether a and b hold the same text; NULL equals "" (an absent field is an empty one). */
static inline int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Whether s is NULL or "". */
static inline int
str_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

#endif
