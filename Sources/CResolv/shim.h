// System-library shim for glibc's DNS resolver (libresolv): queries at the system's resolver or
// at one given server, and the answer's parser (ns_initparse, ns_parserr, ns_name_uncompress).
#include <arpa/inet.h>
#include <netdb.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

// Queries `name` for records of `type` (class IN). `server` (an IPv4 address, with `port`)
// replaces the resolvers of /etc/resolv.conf when given. `dnssec` asks the resolver for
// validation and keeps its answer's AD bit (glibc clears it unless trust-ad is set). Returns the
// answer's length, or -1 with the resolver's h_errno in *error (HOST_NOT_FOUND, NO_DATA,
// TRY_AGAIN, NO_RECOVERY). Blocking: at most `timeout_s` seconds a try, two tries.
static inline int shim_dns_query(const char *server, int port, const char *name, int type, int dnssec, int timeout_s,
                                 unsigned char *answer, int size, int *error) {
    struct __res_state state;
    memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) { *error = NO_RECOVERY; return -1; }
    if (server != NULL) {
        struct in_addr address;
        if (inet_pton(AF_INET, server, &address) != 1) { res_nclose(&state); *error = NO_RECOVERY; return -1; }
        state.nsaddr_list[0].sin_family = AF_INET;
        state.nsaddr_list[0].sin_addr = address;
        state.nsaddr_list[0].sin_port = htons((uint16_t)port);
        state.nscount = 1;
    }
    state.retrans = timeout_s;
    state.retry = 2;
    if (dnssec) state.options |= RES_USE_EDNS0 | RES_USE_DNSSEC | RES_TRUSTAD;
    int length = res_nquery(&state, name, ns_c_in, type, answer, size);
    *error = length < 0 ? state.res_h_errno : 0;
    res_nclose(&state);
    return length;
}

// Records in the answer section of a parsed message (ns_msg_count is a macro).
static inline int shim_dns_answers(const ns_msg *message) { return ns_msg_count(*message, ns_s_an); }

// Whether the resolver vouched for the answer (the AD bit: DNSSEC-validated).
static inline int shim_dns_authenticated(const ns_msg *message) { return ns_msg_getflag(*message, ns_f_ad); }
