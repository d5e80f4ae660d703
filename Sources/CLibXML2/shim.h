// System-library shim for libxml2 (Debian libxml2-dev).
// libxml2's headers pull in ICU's when LIBXML_ICU_ENABLED is set, and ICU's UErrorCode then
// clashes with the copy Foundation carries ("'UErrorCode' has different definitions in
// different modules"). Nothing here needs ICU, so it is switched off before any other header.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlschemas.h>

// libxml2 exposes its deallocator as a mutable global function pointer, which Swift 6 refuses to
// read from concurrent code; this reads it in C.
static inline void shim_xml_free(void *pointer) { xmlFree(pointer); }

// Some libxml2 errors (input encoding) go to its generic handler, which prints to stderr
// whatever the parser options say. The handlers are per thread; a parse silences its own.
static void shim_xml_discard(void *context, const char *message, ...) { (void)context; (void)message; }
static void shim_xml_discard_structured(void *context, xmlErrorPtr error) { (void)context; (void)error; }
static inline void shim_xml_silence(void) {
    xmlSetGenericErrorFunc(NULL, shim_xml_discard);
    xmlSetStructuredErrorFunc(NULL, shim_xml_discard_structured);
}
