/* The probe of names_tp.h, built into the LTTng names loop. */
#define TRACEPOINT_CREATE_PROBES
#define TRACEPOINT_DEFINE
#include "names_tp.h"
