#ifndef CZEROMQ_SHIM_H
#define CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/eventfd.h>
#include <unistd.h>
#endif
