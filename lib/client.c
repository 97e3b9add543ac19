/*
 * A whole check-in over the port's blocking network calls
 * (include/otac/client.h): a session (lib/session.c) driven by connect,
 * send, recv and close, a new connection for each resume, every wait
 * bounded by the timeout; and the spread of check-in times over a fleet.
 *
 * The module owns the loop and which port error ends a check-in; what is
 * sent, what the answer means and where the image goes are the session's.
 * One buffer on the stack serves first the request, then the answer's
 * bytes, so a check-in needs about 1.5 KB of stack beyond the session.
 */
#include "otac/client.h"

#include <string.h>

#include "session_internal.h"

/* Sends all LEN bytes of DATA on CONN; the port's error, or OTAC_E_IO for a port that misbehaves.
 */
static int send_all(const struct otac_port *port, void *conn, const uint8_t *data, size_t len,
                    uint32_t timeout_ms)
{
    while (len > 0) {
        long n = port->send(port->ctx, conn, data, len, timeout_ms);
        if (n < 0)
            return (int)n;
        if (n == 0 || (unsigned long)n > len)
            return OTAC_E_IO;
        data += n;
        len -= (size_t)n;
    }
    return OTAC_OK;
}

/*
 * One connection: the request in BUF (LEN bytes), then the answer read into
 * BUF until an outcome comes or the connection ends. Returns OTAC_OK when the
 * peer ended it or an outcome came, else the port's error.
 */
static int exchange(struct otac_session *s, const struct otac_port *port, void *conn, uint8_t *buf,
                    size_t cap, size_t len, uint32_t timeout_ms, enum otac_outcome *ret_outcome)
{
    int err = send_all(port, conn, buf, len, timeout_ms);
    if (err != OTAC_OK)
        return err;
    for (;;) {
        long n = port->recv(port->ctx, conn, buf, cap, timeout_ms);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return OTAC_OK;
        if ((unsigned long)n > cap)
            return OTAC_E_IO;
        (void)otac_session_receive(s, buf, (size_t)n,
                                   ret_outcome); /* cannot fail: a request went */
        if (*ret_outcome != OTAC_OUTCOME_NONE)
            return OTAC_OK;
    }
}

int otac_check(struct otac_session *s, const struct otac_port *port,
               const struct otac_session_config *cfg, const struct otac_identity *id,
               struct otac_slots *slots, int tls, uint32_t timeout_ms,
               enum otac_outcome *ret_outcome)
{
    if (!s || !port || !ret_outcome || !port->connect || !port->send || !port->recv || !port->close)
        return OTAC_E_INVAL;
    int r = otac_session_init(s, cfg, id, slots, port);
    if (r != OTAC_OK)
        return r;
    if (timeout_ms == 0)
        timeout_ms = OTAC_TIMEOUT_MS_DEFAULT;

    uint8_t buf[OTAC_REQUEST_MAX];
    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    while (outcome == OTAC_OUTCOME_NONE) {
        size_t len = 0;
        r = otac_session_request(s, (char *)buf, sizeof(buf), &len);
        if (r != OTAC_OK)
            return r; /* the builder refused the identity or the config */
        void *conn = NULL;
        int err = port->connect(port->ctx, cfg->host, cfg->port, tls, &conn);
        if (err == OTAC_OK) {
            err = exchange(s, port, conn, buf, sizeof(buf), len, timeout_ms, &outcome);
            port->close(port->ctx, conn);
        }
        /* Ended without an outcome: a resume if one is left, else the port's error decides. */
        if (outcome == OTAC_OUTCOME_NONE)
            (void)otac_session_closed_by(s, err, &outcome);
    }
    *ret_outcome = outcome;
    return OTAC_OK;
}

uint64_t otac_next_checkin_ms(const struct otac_port *port, uint64_t interval_ms,
                              unsigned jitter_percent)
{
    if (jitter_percent > 100)
        jitter_percent = 100;
    if (!port || !port->random || jitter_percent == 0 || interval_ms == 0)
        return interval_ms;
    /* interval * percent / 100, without overflowing for any interval */
    uint64_t spread = interval_ms / 100 * jitter_percent + interval_ms % 100 * jitter_percent / 100;
    if (spread > UINT64_MAX / 4)
        spread = UINT64_MAX / 4; /* so that 2 * spread + 1 fits */
    if (spread > UINT64_MAX - interval_ms)
        spread = UINT64_MAX - interval_ms;
    uint8_t bytes[8];
    if (port->random(port->ctx, bytes, sizeof(bytes)) < 0)
        return interval_ms;
    uint64_t draw = 0;
    for (size_t i = 0; i < sizeof(bytes); i++)
        draw = draw << 8 | bytes[i];
    /* Even over [interval - spread, interval + spread], but for the modulo's bias of range / 2^64.
     */
    return interval_ms - spread + draw % (2 * spread + 1);
}
