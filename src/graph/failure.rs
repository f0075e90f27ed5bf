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
    /// The connection was refused: nothing listens at Graph's address.
    #[error("{0}")]
    Refused(String),
    /// Graph's TLS certificate did not verify: trying again cannot change it.
    #[error("{0}")]
    Certificate(String),
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
            io::ErrorKind::InvalidData if is_certificate_failure(&io) => {
                certificate_error(&io, authority)
            }
            io::ErrorKind::ConnectionRefused => RequestError::Refused(format!(
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
        ureq::Error::Rustls(e) if e.to_string().starts_with(CERTIFICATE_FAILURE) => {
            certificate_error(&e, authority)
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
        // An answer that is not HTTP as the protocol speaks it (a bad status line,
        // headers too many or too large, conflicting lengths, bad chunks).
        ureq::Error::Protocol(p) => RequestError::Protocol {
            http_status: 0,
            message: format!("the answer from {authority} is not valid HTTP: {p}"),
        },
        ureq::Error::LargeResponseHeader(len, max) => RequestError::Protocol {
            http_status: 0,
            message: format!(
                "the answer from {authority} has {len} bytes of headers, over the {max} accepted"
            ),
        },
        ureq::Error::BodyStalled => {
            RequestError::Timeout(format!("the answer from {authority} stalled"))
        }
        other => RequestError::Network(format!("HTTP error with {authority}: {other}")),
    }
}

/// How rustls begins the words of a peer certificate that did not verify (its
/// `Error::InvalidCertificate`: an unknown issuer, an expired certificate, another
/// name), whichever way ureq hands the error on.
const CERTIFICATE_FAILURE: &str = "invalid peer certificate";

fn is_certificate_failure(io: &io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.to_string().starts_with(CERTIFICATE_FAILURE))
}

fn certificate_error(e: &dyn std::fmt::Display, authority: &str) -> RequestError {
    RequestError::Certificate(format!(
        "the TLS certificate of {authority} did not verify ({e})"
    ))
}

/// A failure while reading an answer's body, whose head came with `http_status`: a
/// timeout is a timeout, an answer that is not HTTP is outside the protocol, and
/// anything else cut the answer.
pub(super) fn body_error(e: io::Error, http_status: u16) -> RequestError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    match inner {
        Some(ureq::Error::BodyExceedsLimit(_)) => RequestError::Protocol {
            http_status,
            message: "Graph's answer is over 1 MiB".into(),
        },
        Some(ureq::Error::Timeout(t)) => {
            RequestError::Timeout(format!("the answer was not read whole in time ({t})"))
        }
        Some(ureq::Error::BodyStalled) => {
            RequestError::Timeout("the answer stalled while being read".into())
        }
        Some(ureq::Error::Protocol(p)) => RequestError::Protocol {
            http_status,
            message: format!("Graph's answer is not valid HTTP: {p}"),
        },
        _ => match e.kind() {
            io::ErrorKind::InvalidData => RequestError::Protocol {
                http_status,
                message: "Graph's answer is not UTF-8 text or is over 1 MiB".into(),
            },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                RequestError::Timeout(format!("the answer stalled while being read: {e}"))
            }
            _ => RequestError::Network(format!("the answer was cut while being read: {e}")),
        },
    }
}

/// Marks an I/O error raised by our own body reader (file trouble or cancellation),
/// so that it is not mistaken for a network failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourceFailure(pub String);
