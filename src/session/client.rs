//! The client sessions share: one resolved plan (its token holder included) and one
//! HTTP agent with its connection pool, so that many files cost round trips, not
//! handshakes. Cheap to clone; usable from any number of threads at once.

use std::fmt;
use std::sync::{Arc, Once};

use crate::config::Config;
use crate::error::Error;
use crate::plan::Plan;

use super::{failed, open, CancelHandle, Session, Source};

/// What the sessions it opens share: the resolved config, the pool of connections to
/// Graph (one TLS handshake per pooled connection, not per file) and the config's
/// `max_send_rate` (all its sessions together send no faster). Clone it freely:
/// clones share the pool and the token holder (a token refreshed by one session is the
/// one the others send next). Sessions may be opened and driven from any threads at
/// once; each session is still used by one thread at a time. A cut, a stall or a
/// cancel of one session never breaks another's connection.
#[derive(Clone)]
pub struct Client {
    pub(super) plan: Plan,
    pub(super) agent: ureq::Agent,
    /// The resume journal is pruned once per client, not once per file.
    pruned: Arc<Once>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("plan", &self.plan).finish()
    }
}

impl Client {
    /// Checks `config` and makes a client of it (no request is made yet).
    pub fn new(config: &Config) -> Result<Client, Error> {
        Ok(Client::from_plan(Plan::resolve(config)?))
    }

    /// A client over a resolved plan, with a pool of its own. The plan's
    /// `max_send_rate` is the client's: the sessions it opens (and its clones open)
    /// share it, as they share the link it stands for.
    pub fn from_plan(mut plan: Plan) -> Client {
        let agent = plan.agent();
        if plan.shared_rate.is_none() && plan.pacing.max_send_rate > 0 {
            plan.shared_rate = Some(crate::pace::SharedRate::new(
                plan.pacing.max_send_rate,
                plan.pacing.send_buffer,
            ));
        }
        Client {
            plan,
            agent,
            pruned: Arc::new(Once::new()),
        }
    }

    /// Prunes the journal in `dir` the first time a session of this client (or of a
    /// clone) uses it.
    pub(super) fn prune_once(&self, dir: &std::path::Path) {
        self.pruned.call_once(|| {
            crate::journal::prune(dir);
        });
    }

    /// Step 3 on its own: how many bytes Graph holds for `session_id`, over this
    /// client's connections (asking about many sessions costs one handshake).
    pub fn offset(&self, session_id: &str) -> Result<u64, Error> {
        super::offset_of(self, session_id).map_err(|e| failed(&self.plan, e))
    }

    /// The same client (pool, token, settings) telling Graph another `file_name` and
    /// `file_type`, for reader sources, whose bytes have neither; where one is `None`,
    /// the client's own stays.
    pub fn naming_over(&self, file_name: Option<&str>, file_type: Option<&str>) -> Client {
        let mut c = self.clone();
        if let Some(n) = file_name {
            c.plan.naming.file_name = Some(n.to_string());
        }
        if let Some(t) = file_type {
            c.plan.naming.file_type = Some(t.to_string());
        }
        c
    }

    /// The same client telling its retries and resumes to `on_event` instead (a command
    /// showing each file's own progress, say).
    pub fn with_events(&self, on_event: Option<crate::EventFn>) -> Client {
        let mut c = self.clone();
        c.plan.on_event = on_event;
        c
    }

    /// The same client whose sessions (those opened from it and its clones) send at
    /// most `bytes_per_second` all together, each also under its own
    /// `max_send_rate`: one limit for a link that many uploads share. 0 is no shared
    /// limit.
    pub fn sharing_send_rate(&self, bytes_per_second: u64) -> Client {
        let mut c = self.clone();
        c.plan.shared_rate = (bytes_per_second > 0)
            .then(|| crate::pace::SharedRate::new(bytes_per_second, c.plan.pacing.send_buffer));
        c
    }

    /// Opens a session for `source` over this client's pool; see [`Session::open`].
    pub fn open(
        &self,
        source: Source,
        resume_id: Option<&str>,
        cancel: &CancelHandle,
    ) -> Result<Session, Error> {
        open::open(self, source, resume_id, cancel).map_err(|e| failed(&self.plan, e))
    }
}
