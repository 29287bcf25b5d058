//! Which node serves a command in cluster mode (Redis's `getNodeByQuery`), checked by the
//! dispatcher after ACLs: the keys the command table's key specs find must share one slot,
//! served here, while the cluster is up; EXEC answers for its whole transaction. The
//! master's stream is obeyed as is.

use resp::Argv;

use super::Redirect;
use crate::client::ClientState;
use crate::cmd::{queued_key_slots, Spec};
use crate::server::Server;

/// `None` to serve the command here.
pub fn of_command(
    srv: &Server,
    client: &ClientState,
    spec: &Spec,
    argv: &Argv<'_>,
    writes: bool,
) -> Option<Redirect> {
    if !srv.cluster.enabled || client.replaying {
        return None;
    }
    let slots: Vec<u16> = if spec.name == "exec" {
        queued_key_slots(client)
    } else if spec.has_keys() {
        // Arguments Redis finds no keys in are no redirection: the command's own error
        // follows.
        spec.key_refs(argv)
            .unwrap_or_default()
            .iter()
            .filter(|&&(i, _)| i < argv.len())
            .map(|&(i, _)| store::slot::key_slot(argv.get(i)))
            .collect()
    } else {
        return None;
    };
    let config = srv.config.read();
    srv.cluster.check(&config, slots.into_iter(), writes)
}
