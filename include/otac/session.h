/*
 * One check-in, without I/O: the request to send, the answer's bytes fed as
 * they arrive, and the outcome. The image of a 200 streams into the slot
 * state's target slot (otac/image.h) and, once whole and verified, is staged
 * there (otac/slots.h). The caller moves the bytes: otac/client.h does it
 * over the port's blocking calls; the fleet simulator over its event loop.
 *
 *   init ──> request ──> receive ... ──> outcome
 *                ▲            │
 *                └── closed ──┘ (a cut with a resume left: request again)
 *
 * Outcomes, and what a stock client does at each:
 *
 *   OTAC_OUTCOME_CURRENT   304: nothing new
 *   OTAC_OUTCOME_STAGED    a 200's image was written whole, passed every
 *                          check and is staged; reboot to run it
 *   OTAC_OUTCOME_REFUSED   another status: 403 (cannot take the release),
 *                          404, 5xx (try again at the next check-in); the
 *                          status and Retry-After are kept
 *   OTAC_OUTCOME_FAILED    the image failed a check (size, magic, MD5,
 *                          signature) or the flash failed; otac_session_error
 *                          says which. Also a 200 while the running slot is
 *                          on trial or reverted (OTAC_E_STATE, see
 *                          otac_slots_stage): no byte of it is written
 *   OTAC_OUTCOME_CUT       the connection ended before the image did, and no
 *                          resume is left; the slot is not staged
 *
 * A 200 that passes its framing checks gives up what the target slot held
 * before any byte is checked or written (otac_slots_release_target), an
 * update staged earlier and not booted yet included: after a FAILED or CUT
 * outcome nothing is pending and the running slot is what boots next.
 *
 * Resuming is esp_https_ota's way (OTAC_CLIENT_ESP_IDF with max_resumes > 0):
 * after a cut, otac_session_request gives "Range: bytes=N-" for the same
 * target, and the answer must be a 206 whose Content-Range starts at N and
 * has the first answer's total, with the same ETag when the first had one;
 * anything else fails the session (OTAC_E_RESUME). The stock Arduino
 * updaters never resume: a cut fails the update and the next check-in starts
 * over.
 */
#ifndef OTAC_SESSION_H
#define OTAC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "otac/error.h"
#include "otac/image.h"
#include "otac/port.h"
#include "otac/request.h"
#include "otac/response.h"
#include "otac/slots.h"
#include "otac/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

enum otac_outcome {
    OTAC_OUTCOME_NONE = 0, /* not decided yet: send, receive or close */
    OTAC_OUTCOME_CURRENT = 1,
    OTAC_OUTCOME_STAGED = 2,
    OTAC_OUTCOME_REFUSED = 3,
    OTAC_OUTCOME_FAILED = 4,
    OTAC_OUTCOME_CUT = 5,
};

/* Where and how a device checks in; every pointer is borrowed until the session ends. */
struct otac_session_config {
    const char *host; /* as sent in Host */
    uint16_t port;
    const char *target;        /* request-target, verbatim */
    const char *authorization; /* "Basic ..." or NULL */
    enum otac_mode mode;
    const struct otac_pubkey *key; /* NULL: unsigned images */
    enum otac_format format;       /* with KEY */
    enum otac_hash hash;           /* with KEY */
    unsigned max_resumes;          /* Range requests after cuts (ESP-IDF only); 0: none */
};

/* One check-in. Caller-allocated (about 3 KB); all fields private. */
struct otac_session {
    struct otac_session_config cfg;
    struct otac_identity id;
    struct otac_slots *slots;
    const struct otac_port *port;
    struct otac_response response;
    struct otac_image image;
    uint8_t state;
    uint8_t outcome;
    int error;
    int status;
    unsigned resumes;
    uint64_t total;
    char first_etag[OTAC_ETAG_MAX + 1];
    char version[OTAC_VERSION_MAX + 1];
    char md5[33];
};

/*
 * Starts a check-in of the device ID (copied) with slot state SLOTS
 * (borrowed; the update goes to otac_slots_target) through PORT (borrowed;
 * flash_begin, flash_write, state_store). Returns OTAC_OK or OTAC_E_INVAL.
 */
int otac_session_init(struct otac_session *s, const struct otac_session_config *cfg,
                      const struct otac_identity *id, struct otac_slots *slots,
                      const struct otac_port *port);

/*
 * The bytes to send on a new connection: the check-in, or after a cut the
 * resume. Sets *RET_LEN. Returns OTAC_OK, OTAC_E_BUFFER (OTAC_REQUEST_MAX
 * always suffices), OTAC_E_STATE (an outcome was reached, or a request was
 * already made for this connection), OTAC_E_INVAL (the request builder
 * refuses the identity or the config: a CR, LF, ...).
 */
int otac_session_request(struct otac_session *s, char *buf, size_t cap, size_t *ret_len);

/*
 * Bytes of the answer, in order (borrowed for the call). Sets *RET_OUTCOME;
 * OTAC_OUTCOME_NONE wants more. Bytes past the image's Content-Length are
 * ignored, as the updaters ignore them, and so are bytes that come after an
 * outcome was reached. Returns OTAC_OK (also when the outcome is FAILED: see
 * otac_session_error), OTAC_E_STATE (no request was made for this
 * connection) or OTAC_E_INVAL (NULL).
 */
int otac_session_receive(struct otac_session *s, const void *data, size_t len,
                         enum otac_outcome *ret_outcome);

/*
 * The connection ended (the peer closed it, or the link or a timeout broke
 * it). Sets *RET_OUTCOME: NONE when a resume is left (call
 * otac_session_request on a new connection), else the outcome (CUT for an
 * image cut short, FAILED with OTAC_E_HTTP for an answer cut in its head).
 * After an outcome it only repeats it. Returns OTAC_OK, OTAC_E_STATE (no
 * request was made for this connection) or OTAC_E_INVAL (NULL).
 */
int otac_session_closed(struct otac_session *s, enum otac_outcome *ret_outcome);

/* The outcome so far (OTAC_OUTCOME_NONE while undecided). */
enum otac_outcome otac_session_outcome(const struct otac_session *s);

/* Why a FAILED or CUT outcome came: an enum otac_error value; OTAC_OK otherwise. */
int otac_session_error(const struct otac_session *s);

/* The first answer's status (0 before it), its x-version ("" none) and Retry-After (0 none). */
int otac_session_status(const struct otac_session *s);
const char *otac_session_version(const struct otac_session *s);
uint32_t otac_session_retry_after_s(const struct otac_session *s);

/* Image bytes received so far (across resumes), and the image's size (0 before a 200). */
uint64_t otac_session_received(const struct otac_session *s);
uint64_t otac_session_size(const struct otac_session *s);

#ifdef __cplusplus
}
#endif

#endif
