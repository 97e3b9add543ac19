/*
 * A check-in from start to end over the port's blocking network calls: the
 * convenience a device's update task calls once per interval. It is a
 * session (otac/session.h) driven by connect / send / recv / close, with
 * the stock updaters' timeout on every wait (8 s by default) and, for
 * ESP-IDF, a new connection per resume.
 *
 * Typical use, once per start and then once per interval:
 *
 *   otac_slots_load(&slots, &port, &factory);
 *   otac_slots_boot(&slots, &port, &slot);      // the boot loader's part
 *   ...
 *   otac_slots_identity(&slots, &id);
 *   otac_check(&session, &port, &cfg, &id, &slots, 0, 0, &outcome);
 *   if (outcome == OTAC_OUTCOME_STAGED) reboot();
 *   ...after the new firmware works: otac_slots_confirm(&slots, &port);
 */
#ifndef OTAC_CLIENT_H
#define OTAC_CLIENT_H

#include <stdint.h>

#include "otac/port.h"
#include "otac/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_TIMEOUT_MS_DEFAULT 8000u /* ESP8266httpUpdate's client timeout */

/*
 * Runs one check-in of ID to CFG's server, over TLS when TLS is nonzero,
 * using S (caller-allocated; see otac_session_init for what is borrowed) and
 * PORT (connect, send, recv, close, flash_*, state_store). TIMEOUT_MS bounds
 * each wait (0: OTAC_TIMEOUT_MS_DEFAULT). Sets *RET_OUTCOME; a connection
 * that cannot be opened, or a timeout, ends it as FAILED or CUT, with
 * otac_session_error saying which port error it was.
 * Returns OTAC_OK when an outcome was reached; OTAC_E_INVAL on misuse or when
 * the request builder refuses ID or CFG (a CR or LF in a field, say), and
 * OTAC_E_BUFFER when host, target and authorization together pass
 * OTAC_REQUEST_ARGS_MAX: no outcome then, nothing was sent.
 */
int otac_check(struct otac_session *s, const struct otac_port *port,
               const struct otac_session_config *cfg, const struct otac_identity *id,
               struct otac_slots *slots, int tls, uint32_t timeout_ms,
               enum otac_outcome *ret_outcome);

/*
 * Milliseconds until the next check-in: INTERVAL_MS spread evenly by up to
 * JITTER_PERCENT (0-100) either way with the port's random bytes, so a fleet
 * powered on together does not check in together. A port without random
 * gives INTERVAL_MS.
 */
uint64_t otac_next_checkin_ms(const struct otac_port *port, uint64_t interval_ms,
                              unsigned jitter_percent);

#ifdef __cplusplus
}
#endif

#endif
