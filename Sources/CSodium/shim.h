// System-library shim: exposes the Debian package libsodium-dev to Swift; no code of its own.
#include <sodium.h>
