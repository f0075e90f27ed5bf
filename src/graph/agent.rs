//! The HTTP agent Graph is spoken to through: its settings resolved from the plan's
//! transport part (TLS roots, proxy, timeouts), and ureq's connector chain with each
//! step watched for the trace.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, ConnectionDetails, Connector, RustlsConnector, TcpConnector,
    Transport as Io,
};
use ureq::Agent;

use crate::config::redact_userinfo;
use crate::error::{words, Error, Field, Words};
use crate::files::{read_regular, Links};
use crate::trace::{Level, Trace};

use super::interrupt::{watching_sockets, Tracking};

/// The transport part of a plan: what the HTTP agent is made from.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// No byte moves for this long: the attempt fails.
    pub stall_timeout: Duration,
    /// After the last byte is sent, the answer must begin within this long.
    pub response_timeout: Duration,
    /// Bytes written to the socket at a time.
    pub send_buffer: usize,
    /// Root certificates that replace the public ones (a PEM file).
    pub ca_file: Option<PathBuf>,
    /// The proxy; `None` reads the environment.
    pub proxy: Option<String>,
    /// Graph's URL: a plain `http://` one may go through a proxy on this machine only.
    pub graph_url: String,
}

/// The agent settings for Graph: answers returned as they are (so error objects can
/// be read), no redirects, timeouts on every phase, no `Expect: 100-continue`, TLS
/// verified against Mozilla's roots (or `ca_file`'s), the configured or environment
/// proxy. Fails when `ca_file` or `proxy` cannot be used. Made once per plan: the
/// CA file is read once.
pub(crate) fn http_config(t: &Transport) -> Result<ureq::config::Config, Error> {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(path) = &t.ca_file {
        // Like curl's --cacert, the file replaces the public roots.
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&ca_certs(path)?));
    }
    let proxy = match &t.proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
            Error::argument(
                Field::Proxy,
                words(Field::Proxy).text(format!(" '{}' is not usable: {e}", redact_userinfo(p))),
            )
        })?),
        // An HTTP proxy from the environment is used as curl would; a SOCKS one is
        // passed over (fbup speaks CONNECT only), as ureq does without its SOCKS feature.
        None => ureq::Proxy::try_from_env().filter(|p| !is_socks(p)),
    };
    if let Some(p) = &proxy {
        refuse_a_proxy_that_would_read_the_token(p, &t.graph_url)?;
    }
    if proxy.as_ref().is_some_and(is_socks) {
        return Err(Error::argument(
            Field::Proxy,
            Words::default().text(
                "SOCKS proxies are not supported; use an HTTP proxy (CONNECT), e.g. \
                 http://proxy:3128",
            ),
        ));
    }
    Ok(Agent::config_builder()
        .tls_config(tls.build())
        .proxy(proxy)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(t.connect_timeout))
        .timeout_per_read(Some(t.stall_timeout))
        .timeout_per_write(Some(t.stall_timeout))
        .timeout_recv_response(Some(t.response_timeout))
        // The whole answer, not only the gap between two bytes: a server that trickles
        // its body a byte at a time is cut off too.
        .timeout_recv_body(Some(t.response_timeout))
        // ureq keeps 3 idle connections per host by default: at --jobs 8, five of every
        // eight connections were closed after their request and opened again for the
        // next file (a TLS handshake each). The pool opens nothing itself; it keeps what
        // the requests running at once opened, so a run of any number of files holds as
        // many connections as it uses at once, and no more.
        .max_idle_connections(MAX_IDLE_CONNECTIONS)
        .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
        .no_delay(true)
        .output_buffer_size(t.send_buffer)
        .user_agent(concat!("fbup/", env!("CARGO_PKG_VERSION")))
        .build())
}

/// The idle connections a client keeps at most, per host and in all: more than the
/// sessions of a run commonly use at once (each is a descriptor while it waits, 15 s at
/// most, ureq's idle age).
const MAX_IDLE_CONNECTIONS: usize = 512;

/// The largest CA file read (Mozilla's whole bundle is about 220 KB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// The certificates of a PEM file, at least one.
fn ca_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, Error> {
    let pem = read_regular(path, MAX_CA_FILE, Links::Follow).map_err(|e| {
        Error::argument(
            Field::CaFile,
            Words::default()
                .text("cannot read ")
                .name(Field::CaFile)
                .text(format!(" '{}': {e}", path.display())),
        )
    })?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(Error::argument(
            Field::CaFile,
            words(Field::CaFile).text(format!(" '{}' holds no PEM certificate", path.display())),
        ));
    }
    Ok(certs)
}

/// With a plain `http://` Graph URL, a proxy reads `Authorization: OAuth <token>` in
/// clear: only one on this machine (loopback) is accepted, unless `NO_PROXY` keeps
/// Graph's URL away from it.
fn refuse_a_proxy_that_would_read_the_token(p: &ureq::Proxy, graph_url: &str) -> Result<(), Error> {
    if !graph_url.starts_with("http://") {
        return Ok(());
    }
    let host = p.host().trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let bypassed = ureq::http::Uri::try_from(graph_url).is_ok_and(|u| p.is_no_proxy(&u));
    if loopback || bypassed {
        return Ok(());
    }
    Err(Error::argument(
        Field::Proxy,
        words(Field::Proxy).text(format!(
            " {}:{} is not on this machine, and graph_url is plain http://: the proxy would \
             read the access token in clear text. Use https:// for Graph, or a proxy on \
             127.0.0.1",
            p.host(),
            p.port()
        )),
    ))
}

fn is_socks(p: &ureq::Proxy) -> bool {
    use ureq::ProxyProtocol as P;
    matches!(
        p.protocol(),
        P::Socks4 | P::Socks4A | P::Socks5 | P::Socks5h
    )
}

/// An agent made from `config` whose connections report to `trace` at debug level:
/// ureq's own chain for HTTP proxies, TCP and rustls, each step watched.
pub(crate) fn new_agent(config: &ureq::config::Config, trace: &Trace) -> Agent {
    let watch = |step| (trace.clone(), step);
    let ((t1, s1), (t2, s2), (t3, s3)) =
        (watch(Stage::Proxy), watch(Stage::Tcp), watch(Stage::Tls));
    let connector = ()
        .chain(Watch {
            inner: ConnectProxyConnector::default(),
            trace: t1,
            step: s1,
        })
        .chain(Watch {
            inner: TcpConnector::default(),
            trace: t2,
            step: s2,
        })
        .chain(Watch {
            inner: RustlsConnector::default(),
            trace: t3,
            step: s3,
        })
        .chain(Tracking);
    Agent::with_parts(config.clone(), connector, DefaultResolver::default())
}

/// Which stage of making a connection a [`Watch`] reports.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// The CONNECT request through an HTTP proxy.
    Proxy,
    /// The TCP connect to Graph.
    Tcp,
    /// The TLS handshake.
    Tls,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Proxy => "the proxy's CONNECT",
            Stage::Tcp => "the TCP connect",
            Stage::Tls => "the TLS handshake",
        }
    }
}

/// Wraps one connector of ureq's chain and reports, at debug level, the step it
/// performs and how long it took.
struct Watch<C> {
    inner: C,
    trace: Trace,
    step: Stage,
}

impl<C> fmt::Debug for Watch<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("step", &self.step).finish()
    }
}

impl<In: Io, C: Connector<In>> Connector<In> for Watch<C> {
    type Out = C::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // The socket the TCP step makes is known to whoever may cancel the request.
        let watched;
        let details = match self.step {
            Stage::Tcp => {
                watched = watching_sockets(details);
                &watched
            }
            _ => details,
        };
        let applies = match self.step {
            Stage::Proxy | Stage::Tcp => chained.is_none(),
            Stage::Tls => details.needs_tls() && !chained.as_ref().is_some_and(|t| t.is_tls()),
        };
        if !applies || !self.trace.on(Level::Debug) {
            return self.inner.connect(details, chained);
        }
        let start = Instant::now();
        let result = self.inner.connect(details, chained);
        let ms = start.elapsed().as_millis();
        let target = details
            .uri
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        let line = match (&result, self.step) {
            (Ok(None), _) => return result,
            (Ok(Some(_)), Stage::Proxy) => {
                let proxy = details
                    .config
                    .proxy()
                    .map_or_else(String::new, |p| format!("{}:{}", p.host(), p.port()));
                format!("connected to {target} through the proxy {proxy} (CONNECT) in {ms} ms")
            }
            (Ok(Some(_)), Stage::Tcp) => {
                let addr = details.addrs.first().map(|a| a.to_string());
                format!(
                    "connected to {target} ({}) in {ms} ms",
                    addr.unwrap_or_default()
                )
            }
            (Ok(Some(_)), Stage::Tls) => format!("TLS handshake with {target} done in {ms} ms"),
            (Err(e), step) => format!("{} with {target} failed after {ms} ms: {e}", step.name()),
        };
        if let (Ok(Some(_)), Stage::Tcp | Stage::Proxy) = (&result, self.step) {
            self.trace.count_connect();
        }
        self.trace.log(Level::Debug, || line);
        result
    }
}
