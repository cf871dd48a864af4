#ifndef ROOMWARDEN_CHIREDIS_SHIM_H
#define ROOMWARDEN_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
