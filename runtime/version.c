#include "clt/version.h"

int clt_version_number(void) { return CLT_VERSION_NUMBER; }
const char *clt_version_string(void) { return CLT_VERSION_STRING; }
