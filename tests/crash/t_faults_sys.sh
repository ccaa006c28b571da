#!/bin/bash
# The sys part of t_faults.sh: the system calls that store, deploy,
# release, state, ops and manifest make directly, outside xio (stat,
# opendir/readdir, fchmod, chmod, mkdir, readlink, access, ioctl, flock,
# pthread_create, ...), failed one at a time with strace inject at each
# point of every command and configuration variant, INV after each (see
# t_faults.sh's header for how the points are found and why the commands
# run single-threaded). Quick mode (make check): the last point of each
# system call of deploy (copy and hardlink transfer) and rollback.
FAULT_PART=sys FAULT_T=t_faults_sys exec bash "$(dirname "$0")/t_faults.sh"
