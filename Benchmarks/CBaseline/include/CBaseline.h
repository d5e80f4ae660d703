// Raw C loops over libsodium and SQLite doing the ledger's work with no Swift in between:
// the baseline the ledger benchmark is compared with, side by side in one run.
#ifndef CBASELINE_H
#define CBASELINE_H
#include <stdint.h>

/// Appends n entries (hash, sign, insert) in durable transactions of `batch`; returns entries per
/// second and, when `latencies_us` is not NULL, writes each commit's latency (µs) there.
double cb_append(const char *path, const uint8_t *body, int body_len, int n, int batch, double *latencies_us);
/// crypto_sign_verify_detached over n 32-byte messages; returns verifications per second.
double cb_verify_rate(int n);
/// Scans the baseline table and re-hashes every entry (links only); returns entries per second.
double cb_links_rate(const char *path);
/// Scans the baseline table, re-hashes and verifies every entry; returns entries per second.
double cb_verify_all_rate(const char *path);

/// Reads `count` input registers at `address` from a Modbus TCP server `n` times over one
/// connection with libmodbus; returns reads per second (-1 on any failure).
double cb_modbus_read_rate(const char *host, int port, int address, int count, int n);

#endif
