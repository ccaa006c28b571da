#!/bin/bash
# The configuration variants of t_faults.sh's xio sweep (EIO at every xio
# point, INV after each): hardlink transfer, adoption of an unmanaged
# folder, a two-model deploy, pre/post_switch hooks, backup before deploy
# and a rollback restored from the backup repository (see t_faults.sh's
# header). Quick mode (make check): the last rename and symlink of an
# adoption, a two-model deploy and a rollback from the backup;
# FAULT_CFG_SAMPLE=K (default FAULT_SAMPLE) points per (row, operation).
FAULT_PART=xio FAULT_CFG=1 FAULT_T=t_faults_cfg exec bash "$(dirname "$0")/t_faults.sh"
