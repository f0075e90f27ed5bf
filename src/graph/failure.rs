//! How a request to Graph failed, and the words for a failure without an answer.

use std::io;
use std::time::Duration;

use crate::error::GraphError;

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No answer: connect, reset, broken pipe, TLS, DNS.
    #[error("{0}")]
    Network(String),
    /// No answer in time: connect, stall or answer timeout.
    #[error("{0}")]
    Timeout(String),
    /// Graph answered with an error object.
    #[error("Graph answered HTTP {http_status}: {}", .error.message)]
    Graph {
        http_status: u16,
        error: GraphError,
        wait_hint: Option<Duration>,
    },
    /// An HTTP error without a Graph error object (a proxy, a load balancer).
    #[error("HTTP {http_status} without a Graph error object{}", snippet_suffix(.snippet))]
    Http {
        http_status: u16,
        snippet: String,
        wait_hint: Option<Duration>,
    },
    /// An answer that is not what the protocol says.
    #[error("{message}")]
    Protocol { http_status: u16, message: String },
    /// The body source failed (the file could not be read, or cancellation).
    #[error("{0}")]
    Source(String),
}

fn snippet_suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl RequestError {
    /// The wait the server asked for, if it did.
    pub fn wait_hint(&self) -> Option<Duration> {
        match self {
            RequestError::Graph { wait_hint, .. } | RequestError::Http { wait_hint, .. } => {
                *wait_hint
            }
            _ => None,
        }
    }

    /// True when a server answered (the error is in its answer), false when none did.
    pub fn had_answer(&self) -> bool {
        self.http_status() != 0
    }

    /// The HTTP status of the answer behind the error, 0 when none.
    pub fn http_status(&self) -> u16 {
        match self {
            RequestError::Graph { http_status, .. }
            | RequestError::Http { http_status, .. }
            | RequestError::Protocol { http_status, .. } => *http_status,
            _ => 0,
        }
    }
}

/// A failure without an answer, in words that name what failed and where.
pub(super) fn transport_error(e: ureq::Error, authority: &str) -> RequestError {
    match e {
        ureq::Error::Timeout(t) => RequestError::Timeout(format!("timed out ({t})")),
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                RequestError::Timeout(format!("no byte moved for the stall timeout ({io})"))
            }
            io::ErrorKind::Other | io::ErrorKind::UnexpectedEof
                if io.get_ref().is_some_and(|i| i.is::<SourceFailure>()) =>
            {
                RequestError::Source(io.to_string())
            }
            io::ErrorKind::ConnectionRefused => RequestError::Network(format!(
                "cannot connect to {authority}: the connection was refused (is anything \
                 listening there?)"
            )),
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => {
                RequestError::Network(format!("the connection to {authority} was lost ({io})"))
            }
            _ => RequestError::Network(format!("network error with {authority}: {io}")),
        },
        ureq::Error::ConnectionFailed => {
            RequestError::Network(format!("cannot connect to {authority}"))
        }
        ureq::Error::Rustls(e) => RequestError::Network(format!(
            "TLS certificate verification or handshake with Graph failed: {e}; check graph_url \
             and, for a private CA, ca_file"
        )),
        ureq::Error::Tls(e) => RequestError::Network(format!("TLS error: {e}")),
        ureq::Error::HostNotFound => {
            RequestError::Network(format!("the host name of {authority} was not found (DNS)"))
        }
        ureq::Error::BodyExceedsLimit(_) => RequestError::Protocol {
            http_status: 0,
            message: "Graph's answer is over 1 MiB".into(),
        },
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => RequestError::Protocol {
            http_status: 0,
            message: "Graph answered with a redirect; fbup does not follow redirects".into(),
        },
        other => RequestError::Network(format!("HTTP error with {authority}: {other}")),
    }
}

/// Marks an I/O error raised by our own body reader (file trouble or cancellation),
/// so that it is not mistaken for a network failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourceFailure(pub String);
