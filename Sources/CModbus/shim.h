// System-library shim: exposes the Debian package libmodbus-dev to Swift; no code of its own.
#include <modbus/modbus.h>
