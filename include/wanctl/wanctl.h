#ifndef WANCTL_WANCTL_H
#define WANCTL_WANCTL_H
/*
 * libwanctl: deploy Wan video-generation checkpoints onto inference
 * servers, with a content-addressed store, atomic switches, validation,
 * backups and monitoring. The library never prints and never exits.
 */
#include "wanctl/error.h"
#include "wanctl/log.h"
#include "wanctl/config.h"
#include "wanctl/report.h"

#ifndef WANCTL_VERSION
#define WANCTL_VERSION "0.1.0"
#endif

const char *wan_version(void);

#endif
