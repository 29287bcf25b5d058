//! ACL and connections: the user a connection runs as, the check before each command, the
//! ACL LOG entry of a refusal, and the connections closed when their user is deleted or
//! loses channels, as Redis 7.0 closes them.

use std::sync::Arc;

use resp::Argv;

use super::check::Denied;
use super::User;
use crate::client::ClientState;
use crate::cmd::Spec;
use crate::server::Server;

/// Before a command: pick up a change to the connection's user (a deleted user leaves the
/// connection unauthenticated as `default`, as Redis does while it closes it).
pub fn refresh(srv: &Server, client: &mut ClientState) {
    let generation = srv.acl.generation();
    if client.acl_generation == generation {
        return;
    }
    client.acl_generation = generation;
    let Some(user) = &client.user else { return };
    match srv.acl.get(&user.name) {
        Some(now) => client.user = Some(now),
        None => {
            set_user(client, srv.acl.default_user());
            client.authenticated = false;
        }
    }
}

/// Run the connection as `user` from now on.
pub fn set_user(client: &mut ClientState, user: Arc<User>) {
    user.name.clone_into(&mut client.shared.user_name.lock());
    client.user = Some(user);
}

/// The `-NOPERM` check of a command about to run or be queued; a refusal is logged, with
/// the client shown running `shown_cmd` (a script's caller shows its EVAL or FCALL).
pub fn permit(
    srv: &Server,
    client: &ClientState,
    spec: &'static Spec,
    argv: &Argv<'_>,
    context: &'static str,
    shown_cmd: &'static str,
) -> Result<(), Denied> {
    let Some(user) = &client.user else {
        return Ok(());
    };
    if user.unrestricted() {
        return Ok(());
    }
    super::check::check(user, spec, argv).inspect_err(|denied| {
        log_denial(srv, client, spec, argv, *denied, context, shown_cmd);
    })
}

/// An ACL LOG entry for a refused command, key or channel, with the client as CLIENT INFO
/// shows it running the command.
pub fn log_denial(
    srv: &Server,
    client: &ClientState,
    spec: &'static Spec,
    argv: &Argv<'_>,
    denied: Denied,
    context: &'static str,
    shown_cmd: &'static str,
) {
    let running = crate::client::Running {
        cmd: shown_cmd,
        argv_bytes: argv.iter().map(<[u8]>::len).sum(),
        out_bytes: 0,
    };
    let info = client.shared.describe(crate::util::now_ms(), Some(running));
    let name = client
        .user
        .as_ref()
        .map_or(b"default".to_vec(), |u| u.name.clone());
    srv.acl.log.record(
        max_log_len(srv),
        denied.reason(),
        context,
        &denied.object(spec, argv),
        &name,
        info,
    );
}

pub fn max_log_len(srv: &Server) -> usize {
    srv.config.read().get_i64("acllog-max-len").max(0) as usize
}

/// Close every connection running as one of `users` (deleted, or replaced by ACL LOAD),
/// except `me`, which closes after its reply; returns whether `me` was one of them.
pub fn kill_users(srv: &Server, users: &[Arc<User>], me: u64) -> bool {
    let mut mine = false;
    for c in srv.clients.all() {
        let name = c.user_name.lock().clone();
        if users.iter().any(|u| u.name == name) {
            mine |= close(srv, &c, me);
        }
    }
    mine
}

/// Close connection `c`, or when it is `me` (the one running the command) say so: it closes
/// after its reply, as Redis's `CLIENT_CLOSE_AFTER_COMMAND`.
fn close(srv: &Server, c: &crate::client::ClientShared, me: u64) -> bool {
    if c.id == me {
        return true;
    }
    c.kill();
    c.wait.cancel(&srv.blocked);
    false
}

/// After ACL SETUSER: close the subscribers of the user whose channels no longer allow
/// what they are subscribed to (Redis's `ACLKillPubsubClientsIfNeeded`). Returns whether
/// `me` is one of them.
pub fn kill_revoked_subscribers(srv: &Server, old: &User, new: &User, me: u64) -> bool {
    if super::check::channels_kept(new, old) {
        return false;
    }
    let mut mine = false;
    for c in srv.clients.all() {
        // Redis's client type: a RESP3 subscriber counts as a normal client.
        let resp2 = c.resp.load(std::sync::atomic::Ordering::Relaxed) == 2;
        if *c.user_name.lock() != old.name || c.client_type() != "pubsub" || !resp2 {
            continue;
        }
        let (channels, patterns) = srv.pubsub.subscriptions_of(c.id);
        if !super::check::subscriptions_allowed(new, &channels, &patterns) {
            mine |= close(srv, &c, me);
        }
    }
    mine
}
