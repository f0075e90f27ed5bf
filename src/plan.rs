//! The plan: a [`Config`] resolved once, validated, into the parts each layer takes.
//! Graph takes the endpoint, the HTTP settings and the token; the retry driver the
//! retry policy; the journal the endpoint; the upload loop the pacing and the
//! callbacks. No step re-reads or re-validates the config after this.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, EventFn};
use crate::graph::{self, Endpoint, Graph, Transport};
use crate::retry::Policy;
use crate::token::Token;
use crate::trace::Trace;

/// A validated, resolved config: what sessions are opened from. Cheap to clone; every
/// clone shares one token holder, so a token refreshed by one session is the token
/// the others send next.
#[derive(Clone)]
pub struct Plan {
    pub(crate) endpoint: Arc<Endpoint>,
    /// The HTTP agent's settings (TLS roots read once, proxy, timeouts).
    pub(crate) http: ureq::config::Config,
    pub(crate) retry: Policy,
    pub(crate) token: Arc<Token>,
    pub(crate) trace: Trace,
    pub(crate) naming: Naming,
    pub(crate) pacing: Pacing,
    /// A send rate shared with the other sessions of a client
    /// ([`crate::Client::sharing_send_rate`]), besides each session's own.
    pub(crate) shared_rate: Option<crate::pace::SharedRate>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) on_event: Option<EventFn>,
}

/// The naming part of a plan: what Graph is told a file is called and what type it is.
#[derive(Clone, Debug, Default)]
pub(crate) struct Naming {
    /// The `file_name` to send; the file's base name when `None`.
    pub file_name: Option<String>,
    /// The `file_type` to send; from the extension when `None`.
    pub file_type: Option<String>,
}

/// The pacing part of a plan: how the body is read and sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// The most bytes per second; 0 is no limit.
    pub max_send_rate: u64,
    /// Bytes read and written at a time.
    pub send_buffer: usize,
    /// The most body bytes one request carries; 0: adaptive (the rest of the file
    /// until a cut shows Graph keeps only whole requests).
    pub max_request: u64,
}

impl fmt::Debug for Plan {
    /// Shows everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .field("token", &self.token)
            .field("trace", &self.trace)
            .field("naming", &self.naming)
            .field("pacing", &self.pacing)
            .field("shared_rate", &self.shared_rate.is_some())
            .field("state_dir", &self.state_dir)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl Plan {
    /// Checks `config` (everything that can be checked without the network, the CA
    /// file and the proxy included) and resolves it into a plan.
    pub fn resolve(config: &Config) -> Result<Plan, Error> {
        config.validate()?;
        let http = graph::http_config(&Transport {
            connect_timeout: config.connect_timeout,
            stall_timeout: config.stall_timeout,
            response_timeout: config.response_timeout,
            send_buffer: config.send_buffer,
            ca_file: config.ca_file.clone(),
            proxy: config.proxy.clone(),
            graph_url: config.graph_url.clone(),
        })?;
        let token = Arc::new(Token::new(
            &config.access_token,
            config.token_refresh.clone(),
        ));
        Ok(Plan {
            endpoint: Arc::new(Endpoint::new(
                &config.graph_url,
                &config.api_version,
                &config.app_id,
            )),
            http,
            retry: Policy {
                max_attempts: config.max_attempts,
                max_retry: config.max_retry,
                base: config.retry_base,
                cap: config.retry_cap,
            },
            trace: Trace::new(config.log.clone(), config.log_level, token.clone()),
            token,
            naming: Naming {
                file_name: config.file_name.clone(),
                file_type: config.file_type.clone(),
            },
            pacing: Pacing {
                max_send_rate: config.max_send_rate,
                send_buffer: config.send_buffer,
                max_request: config.max_request,
            },
            shared_rate: None,
            state_dir: config.state_dir.clone(),
            on_event: config.on_event.clone(),
        })
    }

    /// A new HTTP agent of the plan's settings, its connections told to the trace.
    pub(crate) fn agent(&self) -> ureq::Agent {
        graph::new_agent(&self.http, &self.trace)
    }

    /// A Graph client of the plan's endpoint and token over `agent`.
    pub(crate) fn graph(&self, agent: ureq::Agent) -> Graph {
        Graph::new(
            self.endpoint.clone(),
            agent,
            self.token.clone(),
            self.trace.clone(),
        )
    }

    /// Tells the caller's event function, if any.
    pub(crate) fn emit(&self, event: impl FnOnce() -> Event) {
        if let Some(f) = &self.on_event {
            f(&event());
        }
    }

    /// `e` with every token the plan ever held blotted out of its strings: what leaves
    /// the library never carries one, even where Graph echoed it.
    pub(crate) fn scrub(&self, e: Error) -> Error {
        let token = self.token.clone();
        e.scrubbed(&move |s| token.redact(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_resolved_once_and_hides_the_token() {
        let mut c = Config::new("1", "EAAsecret-token");
        c.file_type = Some("image/png".into());
        let plan = Plan::resolve(&c).unwrap();
        assert_eq!(plan.endpoint.base, "https://graph.facebook.com/v24.0");
        assert_eq!(plan.retry.max_attempts, 8);
        assert!(!format!("{plan:?}").contains("EAAsecret"));
        c.app_id.clear();
        assert_eq!(
            Plan::resolve(&c).unwrap_err().field,
            Some(crate::error::Field::AppId)
        );
    }

    #[test]
    fn errors_leave_without_any_token() {
        let plan = Plan::resolve(&Config::new("1", "EAAsecret-token")).unwrap();
        let e = Error::new(
            crate::Status::Auth,
            "Malformed access token EAAsecret-token",
        );
        assert_eq!(plan.scrub(e).message, "Malformed access token <token>");
    }
}
