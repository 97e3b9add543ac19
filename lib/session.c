/*
 * One check-in without I/O (include/otac/session.h): which request goes out
 * (lib/request.c), what the answer's head says (lib/response.c), the 200's
 * body into the slot state's target slot (lib/image.c) and, once it passed
 * every check, staged there (lib/slots.c). esp_https_ota's resume after a
 * cut is here too: the Range request and the checks that the 206 continues
 * the same image.
 *
 * The module owns the order of those steps and the outcome; the caller owns
 * the connection (lib/client.c over the port's blocking calls, or an event
 * loop) and tells it what came and when the connection ended.
 */
#include "otac/session.h"

#include <string.h>

#include "session_internal.h"

/* Values of struct otac_session.state. */
enum {
    SESSION_IDLE = 1, /* a request is wanted for a new connection */
    SESSION_HEAD = 2, /* the request was made; the answer's head is arriving */
    SESSION_BODY = 3, /* the image is arriving */
    SESSION_DONE = 4, /* an outcome was reached */
};

static int client_known(enum otac_client client)
{
    switch (client) {
    case OTAC_CLIENT_ESP8266_2_4:
    case OTAC_CLIENT_ESP8266_2_7:
    case OTAC_CLIENT_ESP8266_3_1:
    case OTAC_CLIENT_ESP32:
    case OTAC_CLIENT_ESP_IDF:
        return 1;
    }
    return 0;
}

/* Copies the NUL-terminated SRC into DST of CAP bytes, cut to fit. */
static void text_copy(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

int otac_session_init(struct otac_session *s, const struct otac_session_config *cfg,
                      const struct otac_identity *id, struct otac_slots *slots,
                      const struct otac_port *port)
{
    if (!s)
        return OTAC_E_INVAL;
    memset(s, 0, sizeof(*s));
    if (!cfg || !id || !slots || !port || !cfg->host || !cfg->target ||
        (cfg->mode != OTAC_MODE_SKETCH && cfg->mode != OTAC_MODE_FS) || !client_known(id->client) ||
        !port->flash_begin || !port->flash_write || !port->state_store)
        return OTAC_E_INVAL;
    s->cfg = *cfg;
    s->id = *id;
    s->slots = slots;
    s->port = port;
    s->state = SESSION_IDLE;
    s->outcome = OTAC_OUTCOME_NONE;
    s->error = OTAC_OK;
    return OTAC_OK;
}

/* Whether a cut can be followed by a Range request: esp_https_ota's resumption. */
static int resume_left(const struct otac_session *s)
{
    return s->id.client == OTAC_CLIENT_ESP_IDF && s->resumes < s->cfg.max_resumes;
}

static enum otac_outcome session_end(struct otac_session *s, enum otac_outcome outcome, int err)
{
    s->state = SESSION_DONE;
    s->outcome = (uint8_t)outcome;
    s->error = err;
    return outcome;
}

int otac_session_request(struct otac_session *s, char *buf, size_t cap, size_t *ret_len)
{
    if (!s || !buf || !ret_len)
        return OTAC_E_INVAL;
    if (s->state != SESSION_IDLE)
        return OTAC_E_STATE;
    int r;
    int resuming = s->total != 0; /* the first answer was a 200 whose image was cut */
    if (resuming)
        r = otac_request_resume(buf, cap, ret_len, s->cfg.host, s->cfg.port, s->cfg.target,
                                s->cfg.authorization, otac_image_written(&s->image));
    else
        r = otac_request_checkin(buf, cap, ret_len, &s->id, s->cfg.mode, s->cfg.host, s->cfg.port,
                                 s->cfg.target, s->cfg.authorization);
    if (r != OTAC_OK)
        return r;
    if (resuming)
        s->resumes++;
    otac_response_init(&s->response);
    s->state = SESSION_HEAD;
    return OTAC_OK;
}

/* The first answer is a 200: checks its framing and begins the image. */
static enum otac_outcome session_begin_image(struct otac_session *s)
{
    const struct otac_response *r = &s->response;
    /* Stock: no usable Content-Length, chunked included, is -101 (reference §3). */
    if (r->chunked || r->content_length <= 0)
        return session_end(s, OTAC_OUTCOME_FAILED, OTAC_E_NO_SIZE);
    /* Writing would overwrite the slot a trial falls back to (otac_slots_stage). */
    if (!otac_slots_may_stage(s->slots))
        return session_end(s, OTAC_OUTCOME_FAILED, OTAC_E_STATE);
    struct otac_image_options opt = {
        .client = s->id.client,
        .mode = s->cfg.mode,
        .size = (uint64_t)r->content_length,
        .free_space = s->id.free_space,
        .chip_size = s->id.chip_size,
        .md5 = r->md5_present ? r->md5 : NULL, /* "" when malformed: refused as stock does */
        .key = s->cfg.key,
        .format = s->cfg.format,
        .hash = s->cfg.hash,
    };
    /* The slot's old image (a staged update, too) is gone once a byte of this one is written. */
    int err = otac_slots_release_target(s->slots, s->port);
    if (err != OTAC_OK)
        return session_end(s, OTAC_OUTCOME_FAILED, err);
    err = otac_image_begin(&s->image, s->port, otac_slots_target(s->slots), &opt);
    if (err != OTAC_OK)
        return session_end(s, OTAC_OUTCOME_FAILED, err);
    s->total = opt.size;
    text_copy(s->first_etag, sizeof(s->first_etag), r->etag);
    s->state = SESSION_BODY;
    return OTAC_OUTCOME_NONE;
}

/* A resume's answer must continue the same image where it was cut (session.h). */
static enum otac_outcome session_check_resume(struct otac_session *s)
{
    const struct otac_response *r = &s->response;
    uint64_t from = otac_image_written(&s->image);
    uint64_t rest = s->total - from;
    int continues = r->status == 206 && !r->chunked && r->range_first >= 0 &&
                    (uint64_t)r->range_first == from && r->range_total >= 0 &&
                    (uint64_t)r->range_total == s->total && r->range_last >= 0 &&
                    (uint64_t)r->range_last == s->total - 1 &&
                    (r->content_length < 0 || (uint64_t)r->content_length == rest) &&
                    (s->first_etag[0] == '\0' || strcmp(r->etag, s->first_etag) == 0);
    if (!continues)
        return session_end(s, OTAC_OUTCOME_FAILED, OTAC_E_RESUME);
    s->state = SESSION_BODY;
    return OTAC_OUTCOME_NONE;
}

/* The whole head came: what it says decides the outcome, or the body follows. */
static enum otac_outcome session_head_done(struct otac_session *s)
{
    const struct otac_response *r = &s->response;
    if (s->total != 0)
        return session_check_resume(s);
    s->status = r->status;
    text_copy(s->version, sizeof(s->version), r->version);
    if (r->status == 304)
        return session_end(s, OTAC_OUTCOME_CURRENT, OTAC_OK);
    if (r->status == 200)
        return session_begin_image(s);
    return session_end(s, OTAC_OUTCOME_REFUSED, OTAC_OK);
}

/* Image bytes: at most what the image still lacks; once it is whole, finish and stage. */
static enum otac_outcome session_body(struct otac_session *s, const uint8_t *data, size_t len)
{
    uint64_t lacking = s->total - otac_image_written(&s->image);
    size_t take = (uint64_t)len < lacking ? len : (size_t)lacking;
    int err = otac_image_write(&s->image, data, take);
    if (err != OTAC_OK)
        return session_end(s, OTAC_OUTCOME_FAILED, err);
    if (otac_image_written(&s->image) < s->total)
        return OTAC_OUTCOME_NONE;

    struct otac_slot_image staged;
    memset(&staged, 0, sizeof(staged));
    err = otac_image_finish(&s->image, staged.md5, &staged.size);
    if (err != OTAC_OK)
        return session_end(s, OTAC_OUTCOME_FAILED, err);
    staged.valid = 1;
    text_copy(staged.version, sizeof(staged.version), s->version);
    err = otac_slots_stage(s->slots, s->port, &staged);
    if (err != OTAC_OK)
        return session_end(s, OTAC_OUTCOME_FAILED, err);
    memcpy(s->md5, staged.md5, sizeof(s->md5));
    return session_end(s, OTAC_OUTCOME_STAGED, OTAC_OK);
}

int otac_session_receive(struct otac_session *s, const void *data, size_t len,
                         enum otac_outcome *ret_outcome)
{
    if (!s || !ret_outcome || (!data && len != 0))
        return OTAC_E_INVAL;
    if (s->state == SESSION_DONE) {
        *ret_outcome = (enum otac_outcome)s->outcome; /* the rest of the answer is ignored */
        return OTAC_OK;
    }
    if (s->state != SESSION_HEAD && s->state != SESSION_BODY)
        return OTAC_E_STATE;

    const uint8_t *bytes = data;
    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    if (s->state == SESSION_HEAD && len > 0) {
        size_t used = 0;
        int err = otac_response_feed(&s->response, bytes, len, &used);
        if (err != OTAC_OK) {
            *ret_outcome = session_end(s, OTAC_OUTCOME_FAILED, err);
            return OTAC_OK;
        }
        bytes += used;
        len -= used;
        if (s->response.complete)
            outcome = session_head_done(s);
    }
    if (outcome == OTAC_OUTCOME_NONE && s->state == SESSION_BODY && len > 0)
        outcome = session_body(s, bytes, len);
    *ret_outcome = outcome;
    return OTAC_OK;
}

int otac_session_closed_by(struct otac_session *s, int err, enum otac_outcome *ret_outcome)
{
    if (!s || !ret_outcome)
        return OTAC_E_INVAL;
    if (s->state == SESSION_DONE) {
        *ret_outcome = (enum otac_outcome)s->outcome;
        return OTAC_OK;
    }
    if (s->state != SESSION_HEAD && s->state != SESSION_BODY)
        return OTAC_E_STATE;
    if (s->total == 0) {
        /* The first answer was cut in its head: nothing to resume. */
        *ret_outcome = session_end(s, OTAC_OUTCOME_FAILED, err != OTAC_OK ? err : OTAC_E_HTTP);
        return OTAC_OK;
    }
    if (resume_left(s)) {
        s->state = SESSION_IDLE;
        *ret_outcome = OTAC_OUTCOME_NONE;
        return OTAC_OK;
    }
    *ret_outcome = session_end(s, OTAC_OUTCOME_CUT, err != OTAC_OK ? err : OTAC_E_CUT);
    return OTAC_OK;
}

int otac_session_closed(struct otac_session *s, enum otac_outcome *ret_outcome)
{
    return otac_session_closed_by(s, OTAC_OK, ret_outcome);
}

enum otac_outcome otac_session_outcome(const struct otac_session *s)
{
    return s ? (enum otac_outcome)s->outcome : OTAC_OUTCOME_NONE;
}

int otac_session_error(const struct otac_session *s)
{
    return s ? s->error : OTAC_E_INVAL;
}

int otac_session_status(const struct otac_session *s)
{
    return s ? s->status : 0;
}

const char *otac_session_version(const struct otac_session *s)
{
    return s ? s->version : "";
}

uint32_t otac_session_retry_after_s(const struct otac_session *s)
{
    /* The response holds the first answer's head until a resume reuses it. */
    return s && s->status != 0 && s->resumes == 0 ? s->response.retry_after_s : 0;
}

uint64_t otac_session_received(const struct otac_session *s)
{
    return s && s->total != 0 ? otac_image_written(&s->image) : 0;
}

uint64_t otac_session_size(const struct otac_session *s)
{
    return s ? s->total : 0;
}
