// Raw C loops over libsodium and SQLite doing the ledger's work with no Swift in between:
// the baseline the ledger benchmark is compared with, side by side in one run.
#ifndef CBASELINE_H
#define CBASELINE_H
#include <stdint.h>

/// Appends n entries (hash, sign, insert) in transactions of `batch`; returns entries per second.
double cb_append_batched(const char *path, const uint8_t *body, int body_len, int n, int batch);
/// Appends n entries one durable transaction each; writes each append's latency (µs) to out.
int cb_append_single(const char *path, const uint8_t *body, int body_len, int n, double *latencies_us);
/// crypto_sign_verify_detached over n 32-byte messages; returns verifications per second.
double cb_verify_rate(int n);
/// Scans the baseline table and re-hashes every entry (links only); returns entries per second.
double cb_links_rate(const char *path);
/// Scans the baseline table, re-hashes and verifies every entry; returns entries per second.
double cb_verify_all_rate(const char *path);

#endif
