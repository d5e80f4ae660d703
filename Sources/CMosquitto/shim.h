// System-library shim: exposes the Debian package libmosquitto-dev to Swift; no code of its own.
#include <mosquitto.h>
