#!/bin/bash
# The database half of t_faults.sh (SQLite's own system calls failed with
# strace inject at each point, every command, INV after each) when the
# sweep runs whole (WANCTL_LONG=1 or FAULT_SAMPLE=K): split off so that each
# half fits ctest's timeout. In quick mode t_faults.sh samples both halves.
if [ -z "${WANCTL_LONG:-}${FAULT_SAMPLE:-}" ]; then
	echo "t_faults_db: quick mode: sampled by t_faults"
	echo "t_faults_db: 0 passed, 0 failed"
	exit 0
fi
FAULT_PART=db FAULT_T=t_faults_db exec bash "$(dirname "$0")/t_faults.sh"
