//! CLUSTER, ASKING, READONLY, READWRITE (issue 16). Cluster mode is not built yet
//! (`cluster-enabled` accepts only `no`), so each answers as Redis 7.0 does on a server
//! without cluster support: clients probing for a cluster (CLUSTER INFO, CLUSTER SLOTS)
//! learn it is a standalone server. `crate::cluster::slot` already maps keys to slots.

use resp::Argv;

use crate::cmd::{CmdResult, Ctx};

pub fn disabled(_ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    Err("ERR This instance has cluster support disabled".into())
}
