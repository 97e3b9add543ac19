/*
 * The otac device library: the update client of a device that checks in with
 * otad (or any server the stock updaters talk to). One include for all of it:
 *
 *   otac/version.h   the version, at compile time and at run time
 *   otac/error.h     the error codes every call returns
 *   otac/port.h      the only way the library reaches the device: network,
 *                    clock, flash, the slot state record, random
 *   otac/request.h   the device's report and the stock clients' requests
 *   otac/response.h  the answer's head, parsed as it arrives
 *   otac/verify.h    signed images (ESP8266 and ESP32 formats)
 *   otac/image.h     one image into a flash slot, checked as it streams
 *   otac/slots.h     the A/B slot state: stage, boot, confirm, revert
 *   otac/session.h   one check-in without I/O (for event loops)
 *   otac/client.h    one check-in over the port's blocking calls
 *
 * otac/port_posix.h, the port for POSIX hosts, is included on its own.
 * lib/README.md says how to build it into a program.
 */
#ifndef OTAC_H
#define OTAC_H

#include "otac/client.h"
#include "otac/error.h"
#include "otac/image.h"
#include "otac/port.h"
#include "otac/request.h"
#include "otac/response.h"
#include "otac/session.h"
#include "otac/slots.h"
#include "otac/verify.h"
#include "otac/version.h"

#endif
