/*  st_doc.h: YAML or JSON text to a jansson tree.
 *
 *  Job specs and config files are written in YAML or JSON; both become one
 *  jansson tree, so one validator serves both. YAML plain scalars become
 *  integers, reals, booleans or null when they look like them (YAML 1.2 core
 *  schema); quoted scalars stay strings. Anchors/aliases are resolved; duplicate
 *  keys and multiple documents are errors. Parse errors name line and column. */
#ifndef ST_DOC_H
#define ST_DOC_H

#include <stddef.h>
#include <jansson.h>
#include "st_error.h"

#define ST_DOC_MAX_BYTES (256u * 1024u) /*  a spec or config larger than this is refused  */

/*  Returns a new reference, or NULL with err filled.  */
json_t *st_doc_parse (const char *text, size_t len, st_error_t *err);

/*  Reads path (at most ST_DOC_MAX_BYTES) and parses it.  */
json_t *st_doc_load (const char *path, st_error_t *err);

#endif
