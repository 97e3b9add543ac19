/*
 * What lib/client.c needs of a session beyond include/otac/session.h: the
 * connection ended because a port call failed, and an outcome reached then
 * reports the port's error rather than the session's own reason. Not part
 * of the public API.
 */
#ifndef OTAC_SESSION_INTERNAL_H
#define OTAC_SESSION_INTERNAL_H

#include "otac/session.h"

/*
 * As otac_session_closed; when ERR is not OTAC_OK (the port's error that
 * ended the connection) and the session ends here as FAILED or CUT,
 * otac_session_error gives ERR.
 */
int otac_session_closed_by(struct otac_session *s, int err, enum otac_outcome *ret_outcome);

#endif
