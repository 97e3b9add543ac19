/* What the TLS test clients (tls_client_bearssl.c, tls_client_mbedtls.c) share.
 *
 * Each client stands in for a device: it connects to 127.0.0.1 with one TLS
 * stack, sends one HTTP/1.1 GET and prints one JSON object per connection.
 * This module owns everything that does not depend on the TLS stack: the
 * common command-line options, the TCP socket with its timeouts, a passive
 * observer of the TLS bytes on the wire (what the ClientHello offered, what
 * the ServerHello answered, how large the server's records were), the HTTP
 * request and the response parser, and a small JSON writer. It does not
 * touch a TLS library: hashing the body is left to the caller, which uses
 * the stack under test (br_md5, mbedtls_md5).
 *
 * Test code, not daemon code: errors end the program through tool_die()
 * where nothing sensible can go on, and otherwise travel as return values.
 */
#ifndef OTAD_TESTS_TLS_TOOL_H
#define OTAD_TESTS_TLS_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define TOOL_MAX_HEADERS     32
#define TOOL_HEAD_MAX        16384 /* the response head we accept */
#define TOOL_REQUEST_MAX     16384 /* the request we send */
#define TOOL_HS_CAPTURE_MAX  65536 /* plaintext handshake bytes kept per direction */
#define TOOL_MAX_CONNECTIONS 100

/* Options every client takes. Strings are borrowed from argv. */
struct tool_opts {
    const char *host;         /* --host, default 127.0.0.1 */
    int port;                 /* --port, required */
    const char *server_name;  /* --server-name: SNI, Host and the name checked; NULL = none */
    const char *ca_file;      /* --ca FILE (PEM) */
    const char *request_file; /* --request-file F: bytes sent as they are */
    const char *path;         /* --path P: build a GET */
    const char *headers[TOOL_MAX_HEADERS]; /* --header 'Name: value', in order */
    int n_headers;
    const char *user_agent; /* --user-agent, default per tool */
    int connections;        /* --connections N, default 1 */
    int timeout_ms;         /* --timeout SECONDS, default 30: each read or write */
    bool tls12_only;        /* --tls12-only */
    bool require_resume;    /* --require-resume: exit 1 when connection >= 2 did not resume */
};

/* Sets the defaults; USER_AGENT is borrowed. */
void tool_opts_init(struct tool_opts *o, const char *user_agent);

/* Parses the common option at ARGV[*I] (advancing *I past its value).
 * Returns 1 when it was one, 0 when it is not a common option, and exits
 * with status 2 and a message on a missing or malformed value. */
int tool_opts_parse(struct tool_opts *o, int argc, char **argv, int *i);

/* Checks the options after parsing; exits with status 2 on an error. */
void tool_opts_check(const struct tool_opts *o);

/* The usage lines of the common options, for --help. */
extern const char tool_common_usage[];

/* Prints "PROG: message" on stderr and exits with STATUS. */
_Noreturn void tool_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the program name used by tool_die() and tool_warn(). */
void tool_set_prog(const char *prog);

/* Prints "PROG: message" on stderr. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connects a TCP socket to HOST:PORT within TIMEOUT_MS and sets that timeout
 * on every later send and recv. Returns the descriptor, or -errno. */
int tool_connect(const char *host, int port, int timeout_ms);

/* send() of all LEN bytes; returns 0 or -errno (-ETIMEDOUT on the timeout). */
int tool_send_all(int fd, const void *buf, size_t len);

/* One recv(); returns the byte count, 0 at EOF, or -errno. */
long tool_recv(int fd, void *buf, size_t len);

/* The request: the file's bytes, or a GET built from the options. Returns a
 * malloc'd buffer (the caller frees it) and its length in *RET_LEN. */
unsigned char *tool_build_request(const struct tool_opts *o, size_t *ret_len);

/* ---- The wire observer -------------------------------------------------- */

/* What one side's plaintext handshake said: filled from its Hello. */
struct tool_hello {
    bool seen;
    unsigned version; /* legacy_version of the hello */
    unsigned char session_id[32];
    size_t session_id_len;
    uint16_t suites[128]; /* ClientHello: offered; ServerHello: suites[0] chosen */
    size_t n_suites;
    int mfl_code;    /* max_fragment_length extension value (1..4), 0 = absent */
    bool ticket_ext; /* a session_ticket extension (35) was present */
    char sni[256];   /* ClientHello host_name, "" = absent */
};

/* One direction of the TLS byte stream. */
struct tool_wire_dir {
    unsigned char hdr[5]; /* record header being read */
    size_t hdr_got;
    size_t body_left;  /* bytes of the current record still to come */
    int type;          /* content type of the current record */
    bool ccs_seen;     /* ChangeCipherSpec: later handshake bytes are encrypted */
    unsigned char *hs; /* plaintext handshake bytes before the CCS */
    size_t hs_len;
    unsigned records;
    size_t largest_record;       /* largest record length field */
    size_t largest_app_record;   /* largest application_data record */
    unsigned char msg_types[32]; /* handshake message types before the CCS */
    size_t n_msg_types;
    bool malformed;
};

struct tool_wire {
    struct tool_wire_dir out; /* client -> server */
    struct tool_wire_dir in;  /* server -> client */
    struct tool_hello client_hello;
    struct tool_hello server_hello;
};

/* Starts observing a new connection (frees what the last one kept). */
void tool_wire_reset(struct tool_wire *w);
void tool_wire_release(struct tool_wire *w);

/* Feeds bytes seen on the wire: OUTGOING from client to server, or back. */
void tool_wire_feed(struct tool_wire *w, bool outgoing, const unsigned char *p, size_t n);

/* True when the server resumed: its ServerHello echoed the non-empty session
 * ID the ClientHello sent (RFC 5246 7.4.1.3, RFC 5077 3.4) and no Certificate
 * message came before its ChangeCipherSpec. */
bool tool_wire_resumed(const struct tool_wire *w);

/* The plaintext fragment limit in force: 2^(8+code) when the client asked
 * for max_fragment_length and the server echoed it; on a resumed session
 * the server need not echo it (RFC 6066 section 4: the length negotiated
 * applies to the session, resumptions included), so SESSION_MFL, the limit
 * of the session being resumed (0 = none); else 16384. */
int tool_wire_mfl(const struct tool_wire *w, int session_mfl);

/* The most a record may add to its plaintext: BearSSL's worst case
 * (MAX_IN_OVERHEAD in ssl_engine.c: CBC with 256 bytes of padding, an
 * explicit IV and a SHA-384 MAC), the margin an ESP8266 input buffer has. */
#define TOOL_RECORD_OVERHEAD_MAX 325

/* True when every record the server sent fits MFL bytes of plaintext plus
 * TOOL_RECORD_OVERHEAD_MAX: what a client whose buffer holds MFL needs. */
bool tool_wire_records_fit(const struct tool_wire *w, int mfl);

/* ---- HTTP response ------------------------------------------------------ */

struct tool_http {
    unsigned char head[TOOL_HEAD_MAX + 1];
    size_t head_len;
    bool head_done;
    bool head_too_large;
    int status;
    long long content_length; /* -1 = absent */
    bool no_body;             /* HEAD-like: 1xx, 204, 304 */
    long long body_bytes;
    bool done; /* the body is complete by its framing */
    void (*on_body)(void *ctx, const unsigned char *p, size_t n);
    void *ctx;
};

/* Starts a response; ON_BODY gets every body byte once, in order. */
void tool_http_init(struct tool_http *h, void (*on_body)(void *, const unsigned char *, size_t),
                    void *ctx);

/* Feeds response bytes; returns how many were consumed (fewer than N only
 * once the response is complete: bytes past the body are not ours). */
size_t tool_http_feed(struct tool_http *h, const unsigned char *p, size_t n);

/* Marks the end of the stream: a response without Content-Length ends here. */
void tool_http_eof(struct tool_http *h);

/* ---- JSON --------------------------------------------------------------- */

struct tool_json {
    char *buf;
    size_t len, cap;
    bool need_comma;
};

void tool_json_init(struct tool_json *j);
void tool_json_release(struct tool_json *j);
void tool_json_begin(struct tool_json *j, const char *key);              /* "key":{ or { */
void tool_json_end(struct tool_json *j);                                 /* } */
void tool_json_begin_array(struct tool_json *j, const char *key);        /* "key":[ */
void tool_json_end_array(struct tool_json *j);                           /* ] */
void tool_json_str(struct tool_json *j, const char *key, const char *s); /* NULL -> null */
void tool_json_strn(struct tool_json *j, const char *key, const char *s, size_t n);
void tool_json_int(struct tool_json *j, const char *key, long long v);
void tool_json_bool(struct tool_json *j, const char *key, bool v);
void tool_json_null(struct tool_json *j, const char *key);
void tool_json_hex(struct tool_json *j, const char *key, const unsigned char *p, size_t n);

/* The common part of a connection's JSON: "wire", "status", "headers",
 * "header_lines", "body_bytes". */
void tool_json_wire(struct tool_json *j, const struct tool_wire *w);
void tool_json_http(struct tool_json *j, const struct tool_http *h);

/* Writes the object and a newline to stdout and flushes. */
void tool_json_print(struct tool_json *j);

/* "TLS1.2" for 0x0303 (SSL3.0 to TLS1.3), else "0xNNNN"; a static string. */
const char *tool_version_name(unsigned version);

/* Hex of P[0..N) into OUT (2N+1 bytes). */
void tool_hex(char *out, const unsigned char *p, size_t n);

#endif
