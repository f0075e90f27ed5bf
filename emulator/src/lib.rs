//! A local emulator of the Meta Graph API's Resumable Upload API.
//!
//! It is a real HTTP server (hyper on tokio) that answers the three steps of the
//! protocol as Meta documents them, plus the behaviours of the real service that the
//! documentation leaves out (session ids with a `?sig=` query part, handles joined by
//! newlines for video, `file_offset` as a string on request). It can misbehave on
//! command: cut connections, stall, answer errors, lose final answers — from the Rust
//! API ([`Emulator::add_fault`]) or from command-line flags.
//!
//! It shares no code with the fbup library: each is written from the documentation on
//! its own, so that a misreading in one is caught by the other.
//!
//! ```no_run
//! let emu = fbup_emulator::Emulator::start(fbup_emulator::Config::default()).unwrap();
//! println!("Graph at {}", emu.url());
//! ```

#![warn(missing_docs)]

pub mod cli;
mod faults;
mod server;
mod state;
mod tls;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_util::rt::TokioIo;

pub use faults::{
    AfterStall, ErrorSpec, Fault, FaultRule, FaultSpecError, RandomFaults, RequestKind,
};
pub use server::DOCUMENTED_TYPES;
pub use state::{LoggedRequest, SessionInfo, Storage};

use state::{lock, State};

/// How the emulator is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address to bind; 127.0.0.1 by default.
    pub host: String,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Accepted tokens; empty accepts any non-empty token.
    pub tokens: Vec<String>,
    /// Accepted app ids; empty accepts any numeric app id.
    pub app_ids: Vec<String>,
    /// Where bytes go.
    pub storage: Storage,
    /// Accept any `file_type`, not only the five documented ones.
    pub any_type: bool,
    /// Answer `"file_offset":"N"` (a string) in step 3, as newer docs show.
    pub offset_as_string: bool,
    /// How long a session lives.
    pub session_ttl: Duration,
    /// Fault rules in force from the start.
    pub faults: Vec<FaultRule>,
    /// Random faults on upload requests.
    pub random_faults: Option<RandomFaults>,
    /// Serve HTTPS with this certificate chain and key (PEM files) instead of HTTP.
    pub tls: Option<TlsFiles>,
    /// How the answers Meta does not document are given.
    pub unknowns: Unknowns,
}

/// How the emulator answers what Meta leaves undocumented, so that every recovery
/// path of a client can be tested against each plausible answer. The default is the
/// guess this emulator was written with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unknowns {
    /// A wrong `file_offset` is refused with this Graph code and subcode (as Meta's
    /// other upload APIs do, e.g. 6001 / 1363037) instead of code 100 naming the
    /// expected offset.
    pub offset_mismatch: Option<(i64, i64)>,
    /// The empty POST at `file_offset = file_length` on a complete session is refused
    /// (code 100) instead of answering the handle again.
    pub refuse_final_empty_post: bool,
    /// Right after a cut, one offset request reports the offset from before the cut
    /// request, less than is stored (an eventually consistent read).
    pub lagging_offset: bool,
    /// A request cut short commits none of its bytes: only requests that arrive whole
    /// count, as behind a buffering proxy. (Each request is held in memory until it
    /// is whole.)
    pub whole_requests_only: bool,
}

/// The PEM files of an HTTPS emulator.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

fn tls_acceptor(files: &TlsFiles) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("cannot read --tls-cert", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("bad certificate in --tls-cert", &e))?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("cannot read --tls-key", &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("TLS setup", &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad("TLS certificate and key", &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            tokens: Vec::new(),
            app_ids: Vec::new(),
            storage: Storage::TempDir,
            any_type: false,
            offset_as_string: false,
            session_ttl: Duration::from_secs(24 * 3600),
            faults: Vec::new(),
            random_faults: None,
            tls: None,
            unknowns: Unknowns::default(),
        }
    }
}

/// A running emulator. It stops (and removes its temporary folder) when dropped.
pub struct Emulator {
    addr: SocketAddr,
    url: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Binds the address and starts serving on a background thread of its own.
    pub fn start(config: Config) -> io::Result<Emulator> {
        let temp = match config.storage {
            Storage::TempDir => Some(tempfile::Builder::new().prefix("fbup-emulator").tempdir()?),
            _ => None,
        };
        let dir = match &config.storage {
            Storage::Dir(d) => {
                std::fs::create_dir_all(d)?;
                Some(d.clone())
            }
            Storage::TempDir => temp.as_ref().map(|t| t.path().to_path_buf()),
            Storage::Discard { .. } => None,
        };
        let acceptor = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let std_listener = std::net::TcpListener::bind((config.host.as_str(), config.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(State {
            tokens: Mutex::new(config.tokens),
            revoked: Mutex::new(Vec::new()),
            app_ids: config.app_ids,
            any_type: config.any_type,
            offset_as_string: config.offset_as_string,
            unknowns: config.unknowns,
            session_ttl: config.session_ttl,
            storage: config.storage,
            dir,
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
            rules: Mutex::new(config.faults),
            random: Mutex::new(
                config
                    .random_faults
                    .map(|rf| (rf.clone(), faults::Rng::new(rf.seed))),
            ),
            faults_injected: AtomicU64::new(0),
            fault_tally: Mutex::new(HashMap::new()),
            hangups: Mutex::new(Vec::new()),
            tls_suites: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            nonce: AtomicU64::new(0x5EED),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fbup-emulator")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let serve_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("fbup-emulator".into())
            .spawn(move || {
                runtime.block_on(serve(std_listener, serve_state, acceptor, stop_rx));
                runtime.shutdown_background();
            })?;
        let host = if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(Emulator {
            addr,
            url: format!("{scheme}://{host}:{}", addr.port()),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
            _temp: temp,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`: what a client uses as Graph's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        snapshot(&self.state)
    }

    /// One session by its full id (`?sig=` included).
    pub fn session(&self, id: &str) -> Option<SessionInfo> {
        self.sessions().into_iter().find(|s| s.id == id)
    }

    /// The bytes a session holds, when they are stored (not with [`Storage::Discard`]).
    pub fn session_bytes(&self, id: &str) -> Option<Vec<u8>> {
        let info = self.session(id)?;
        let mut bytes = std::fs::read(info.path?).ok()?;
        bytes.truncate(info.file_offset as usize);
        Some(bytes)
    }

    /// The requests received so far (the newest 10,000), tokens redacted.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state.log).clone()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// Adds a fault rule; rules are tried in the order they were added.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.state.rules).push(rule);
    }

    /// Removes every fault rule that has not fired yet.
    pub fn clear_faults(&self) {
        lock(&self.state.rules).clear();
    }

    /// Turns the random fault mode on (with a fresh generator from its seed) or off.
    pub fn set_random_faults(&self, random: Option<RandomFaults>) {
        *lock(&self.state.random) = random.map(|rf| {
            let rng = faults::Rng::new(rf.seed);
            (rf, rng)
        });
    }

    /// How many faults have been injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.faults_injected.load(Ordering::Relaxed)
    }

    /// How many faults of each kind ([`Fault::name`]) have been injected so far.
    pub fn fault_tally(&self) -> HashMap<&'static str, u64> {
        lock(&self.state.fault_tally).clone()
    }

    /// When each injected cut or stall closed an upload's connection, in order (the
    /// newest 10,000).
    pub fn hangups(&self) -> Vec<std::time::Instant> {
        lock(&self.state.hangups).clone()
    }

    /// The TCP connections accepted so far (`GET /_emulator/stats` shows it too): a
    /// client that reuses its connections opens few.
    pub fn connections(&self) -> u64 {
        self.state
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The TLS connections accepted so far, counted by the cipher suite they
    /// negotiated (e.g. `TLS13_AES_256_GCM_SHA384`).
    pub fn tls_suites(&self) -> HashMap<String, u64> {
        lock(&self.state.tls_suites).clone()
    }

    /// From now on, answers requests that carry `token` with code 190, as Graph does
    /// for an expired or revoked token.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.state.revoked).push(token.to_string());
    }

    /// Accepts `token` from now on (when the emulator was started with a token list).
    pub fn allow_token(&self, token: &str) {
        lock(&self.state.revoked).retain(|t| t != token);
        let mut tokens = lock(&self.state.tokens);
        if !tokens.is_empty() {
            tokens.push(token.to_string());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn snapshot(state: &State) -> Vec<SessionInfo> {
    let sessions: Vec<_> = lock(&state.sessions).values().cloned().collect();
    let mut infos: Vec<(std::time::Instant, SessionInfo)> = sessions
        .iter()
        .map(|s| {
            let s = lock(s);
            (s.created, s.info())
        })
        .collect();
    infos.sort_by_key(|(t, _)| *t);
    infos.into_iter().map(|(_, i)| i).collect()
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors or a reset before accept: wait a little and go on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        state
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = state.clone();
        let state_for_tls = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| server::handle(state.clone(), req));
            let mut http = hyper::server::conn::http1::Builder::new();
            http.max_buf_size(4 * 1024 * 1024);
            match acceptor {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
                Some(acceptor) => {
                    // A client that refuses our certificate simply goes away.
                    if let Ok(tls) = acceptor.accept(stream).await {
                        if let Some(suite) = tls.get_ref().1.negotiated_cipher_suite() {
                            let name = format!("{:?}", suite.suite());
                            *lock(&state_for_tls.tls_suites).entry(name).or_insert(0) += 1;
                        }
                        let _ = http.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
            }
        });
    }
}
