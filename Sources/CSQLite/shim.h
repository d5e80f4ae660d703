// System-library shim: exposes the Debian package libsqlite3-dev to Swift; no code of its own.
#include <sqlite3.h>
