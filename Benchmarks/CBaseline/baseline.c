#include "CBaseline.h"
#include <sodium.h>
#include <sqlite3.h>
#include <modbus/modbus.h>
#include <string.h>
#include <time.h>
#include <stdio.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

static void ensure_keys(void) {
    static int ready = 0;
    if (!ready) { if (sodium_init() < 0) return; crypto_sign_keypair(pk, sk); ready = 1; }
}

/* SHA-256("LN-LEDGER-1" 0x00 || seq BE || prev || body), as the ledger contract says. */
static void entry_hash(uint64_t seq, const uint8_t prev[32], const uint8_t *body, int len, uint8_t out[32],
                       uint8_t *scratch) {
    memcpy(scratch, "LN-LEDGER-1", 12);  /* includes the 0x00 */
    for (int i = 0; i < 8; i++) scratch[12 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(scratch + 20, prev, 32);
    memcpy(scratch + 52, body, len);
    crypto_hash_sha256(out, scratch, 52 + len);
}

static sqlite3 *open_db(const char *path) {
    sqlite3 *db;
    remove(path);
    sqlite3_open(path, &db);
    /* The ledger's storage settings, without its schema's checks and triggers. */
    sqlite3_exec(db, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE entries (seq INTEGER PRIMARY KEY, body BLOB NOT NULL,"
                     " hash BLOB NOT NULL, sig BLOB NOT NULL)", 0, 0, 0);
    return db;
}

static int append(sqlite3 *db, sqlite3_stmt *insert, uint64_t *seq, uint8_t prev[32], const uint8_t *body,
                  int len, uint8_t *scratch) {
    uint8_t hash[32], sig[64];
    *seq += 1;
    entry_hash(*seq, prev, body, len, hash, scratch);
    crypto_sign_detached(sig, NULL, hash, 32, sk);
    sqlite3_bind_int64(insert, 1, (sqlite3_int64)*seq);
    sqlite3_bind_blob(insert, 2, body, len, SQLITE_STATIC);
    sqlite3_bind_blob(insert, 3, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(insert, 4, sig, 64, SQLITE_STATIC);
    int rc = sqlite3_step(insert);
    sqlite3_reset(insert);
    memcpy(prev, hash, 32);
    return rc == SQLITE_DONE ? 0 : -1;
}

double cb_append(const char *path, const uint8_t *body, int body_len, int n, int batch, double *latencies_us) {
    ensure_keys();
    sqlite3 *db = open_db(path);
    sqlite3_stmt *insert;
    sqlite3_prepare_v2(db, "INSERT INTO entries VALUES (?,?,?,?)", -1, &insert, NULL);
    uint8_t prev[32] = {0}, scratch[52 + 4096];
    uint64_t seq = 0;
    double start = now_seconds();
    for (int done = 0, commit = 0; done < n; done += batch, commit++) {
        double begun = now_seconds();
        sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
        for (int i = 0; i < batch && done + i < n; i++) append(db, insert, &seq, prev, body, body_len, scratch);
        sqlite3_exec(db, "COMMIT", 0, 0, 0);
        if (latencies_us) latencies_us[commit] = (now_seconds() - begun) * 1e6;
    }
    double elapsed = now_seconds() - start;
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return n / elapsed;
}

double cb_verify_rate(int n) {
    ensure_keys();
    uint8_t message[32] = {1}, sig[64];
    crypto_sign_detached(sig, NULL, message, 32, sk);
    int ok = 0;
    double start = now_seconds();
    for (int i = 0; i < n; i++) ok += crypto_sign_verify_detached(sig, message, 32, pk) == 0;
    double elapsed = now_seconds() - start;
    return ok == n ? n / elapsed : -1;
}

static double scan(const char *path, int verify) {
    ensure_keys();
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *query;
    sqlite3_prepare_v2(db, "SELECT seq, body, hash, sig FROM entries ORDER BY seq", -1, &query, NULL);
    uint8_t prev[32] = {0}, hash[32], scratch[52 + 4096];
    long count = 0, bad = 0;
    double start = now_seconds();
    while (sqlite3_step(query) == SQLITE_ROW) {
        const uint8_t *body = sqlite3_column_blob(query, 1);
        int len = sqlite3_column_bytes(query, 1);
        entry_hash((uint64_t)sqlite3_column_int64(query, 0), prev, body, len, hash, scratch);
        bad += memcmp(hash, sqlite3_column_blob(query, 2), 32) != 0;
        if (verify) bad += crypto_sign_verify_detached(sqlite3_column_blob(query, 3), hash, 32, pk) != 0;
        memcpy(prev, hash, 32);
        count++;
    }
    double elapsed = now_seconds() - start;
    sqlite3_finalize(query);
    sqlite3_close(db);
    return bad == 0 ? count / elapsed : -1;
}

double cb_links_rate(const char *path) { return scan(path, 0); }
double cb_verify_all_rate(const char *path) { return scan(path, 1); }

double cb_modbus_read_rate(const char *host, int port, int address, int count, int n) {
    modbus_t *ctx = modbus_new_tcp(host, port);
    if (!ctx || modbus_connect(ctx) != 0) return -1;
    uint16_t registers[MODBUS_MAX_READ_REGISTERS];
    double start = now_seconds();
    for (int i = 0; i < n; i++) {
        if (modbus_read_input_registers(ctx, address, count, registers) != count) { modbus_free(ctx); return -1; }
    }
    double elapsed = now_seconds() - start;
    modbus_close(ctx);
    modbus_free(ctx);
    return n / elapsed;
}
