//! What the emulator remembers: sessions, their bytes, the request log and the faults.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::faults::{Fault, FaultRule, RandomFaults, RequestKind, Rng};

/// Where the bytes of each session go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A file per session in this folder.
    Dir(PathBuf),
    /// A file per session in a temporary folder removed when the emulator stops.
    TempDir,
    /// Keep only counts, and a running SHA-256 unless `hash` is false.
    Discard {
        /// Keep a running SHA-256 of the bytes.
        hash: bool,
    },
}

/// One upload session as the emulator holds it.
pub(crate) struct Session {
    pub id: String,
    pub app_id: String,
    pub file_name: String,
    pub file_type: String,
    pub file_length: u64,
    pub offset: u64,
    pub hasher: Option<Sha256>,
    pub sha256: Option<String>,
    pub file: Option<File>,
    pub path: Option<PathBuf>,
    pub handle: Option<String>,
    pub bytes_received_total: u64,
    /// Of those, the bytes an injected fault threw away: read past a cut or a closing
    /// stall, or drained before an injected error answer.
    pub bytes_discarded_by_faults: u64,
    pub upload_requests: u64,
    pub created: Instant,
    /// With `Unknowns::lagging_offset`: what the next offset request reports instead
    /// of the truth, once (set by a cut).
    pub lagging_report: Option<u64>,
}

impl Session {
    /// The file handle: the one given before, or a new one from `make`, kept so that
    /// asking again gives the same.
    pub fn handle_or_new(&mut self, make: impl FnOnce(&Session) -> String) -> String {
        if let Some(h) = &self.handle {
            return h.clone();
        }
        let h = make(self);
        self.handle = Some(h.clone());
        h
    }

    /// What the Rust API and `/_emulator/sessions` show of the session.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            app_id: self.app_id.clone(),
            file_name: self.file_name.clone(),
            file_type: self.file_type.clone(),
            file_length: self.file_length,
            file_offset: self.offset,
            sha256: self.current_sha256(),
            complete: self.offset == self.file_length,
            handle: self.handle.clone(),
            bytes_received_total: self.bytes_received_total,
            bytes_discarded_by_faults: self.bytes_discarded_by_faults,
            upload_requests: self.upload_requests,
            path: self.path.clone(),
        }
    }

    /// Appends `data` at the session's offset. Returns false when the bytes do not
    /// continue the session (another request wrote in between), in which case nothing
    /// is stored.
    pub fn append(&mut self, at: u64, data: &[u8]) -> std::io::Result<bool> {
        if at != self.offset {
            return Ok(false);
        }
        let room = self.file_length - self.offset;
        let data = &data[..data.len().min(room as usize)];
        if let Some(f) = &self.file {
            f.write_all_at(data, self.offset)?;
        }
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.offset += data.len() as u64;
        if self.offset == self.file_length {
            if let Some(h) = self.hasher.take() {
                self.sha256 = Some(hex(&h.finalize()));
            }
        }
        Ok(true)
    }

    /// The SHA-256 of the bytes held so far (hex), when hashing is on.
    pub fn current_sha256(&self) -> Option<String> {
        if let Some(done) = &self.sha256 {
            return Some(done.clone());
        }
        self.hasher.as_ref().map(|h| hex(&h.clone().finalize()))
    }
}

/// A public snapshot of one session, as `GET /_emulator/sessions` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The full session id, `?sig=` included.
    pub id: String,
    /// The app the session was created for.
    pub app_id: String,
    /// `file_name` given at creation (may be empty).
    pub file_name: String,
    /// `file_type` given at creation.
    pub file_type: String,
    /// `file_length` given at creation.
    pub file_length: u64,
    /// Bytes held.
    pub file_offset: u64,
    /// SHA-256 (hex) of the bytes held; `None` with `--discard --no-hash`.
    pub sha256: Option<String>,
    /// Every byte has arrived.
    pub complete: bool,
    /// The handle, once complete.
    pub handle: Option<String>,
    /// Every body byte read from the socket for this session, stored or not, re-sent
    /// ones included.
    pub bytes_received_total: u64,
    /// Of those, the bytes an injected fault threw away: read past a cut or a closing
    /// stall, or drained before an injected error answer.
    pub bytes_discarded_by_faults: u64,
    /// How many upload (step 2) requests reached this session.
    pub upload_requests: u64,
    /// Where the bytes are kept, when they are.
    pub path: Option<PathBuf>,
}

impl SessionInfo {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "app_id": self.app_id,
            "file_name": self.file_name,
            "file_type": self.file_type,
            "file_length": self.file_length,
            "file_offset": self.file_offset,
            "sha256": self.sha256,
            "complete": self.complete,
            "handle": self.handle,
            "bytes_received_total": self.bytes_received_total,
            "bytes_discarded_by_faults": self.bytes_discarded_by_faults,
            "upload_requests": self.upload_requests,
        })
    }
}

/// One request as the emulator received it, with the token redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query as sent, `access_token` values replaced by `REDACTED`.
    pub path_and_query: String,
    /// Header names (lower case) and values; `authorization` values are redacted
    /// to their scheme, e.g. `OAuth REDACTED`.
    pub headers: Vec<(String, String)>,
    /// Which step of the protocol the request was, when it was one.
    pub kind: Option<RequestKind>,
    /// When its head arrived.
    pub at: Instant,
}

impl LoggedRequest {
    /// The value of a header (by lower-case name), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the server shares between connections.
pub(crate) struct State {
    pub tokens: Mutex<Vec<String>>,
    pub revoked: Mutex<Vec<String>>,
    pub app_ids: Vec<String>,
    pub any_type: bool,
    pub offset_as_string: bool,
    pub unknowns: crate::Unknowns,
    pub session_ttl: Duration,
    pub storage: Storage,
    pub dir: Option<PathBuf>,
    pub sessions: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
    pub next_session: AtomicU64,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub rules: Mutex<Vec<FaultRule>>,
    pub random: Mutex<Option<(RandomFaults, Rng)>>,
    pub faults_injected: AtomicU64,
    pub fault_tally: Mutex<HashMap<&'static str, u64>>,
    pub hangups: Mutex<Vec<Instant>>,
    /// TLS connections accepted, by the cipher suite they negotiated.
    pub tls_suites: Mutex<HashMap<String, u64>>,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    pub nonce: AtomicU64,
}

/// Locks a mutex, going on with the data even if a holder panicked: the emulator's
/// state stays usable for inspection after a failed test.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    pub fn token_ok(&self, token: &str) -> bool {
        let tokens = lock(&self.tokens);
        !token.is_empty()
            && !lock(&self.revoked).iter().any(|t| t == token)
            && (tokens.is_empty() || tokens.iter().any(|t| t == token))
    }

    pub fn app_ok(&self, app: &str) -> bool {
        !app.is_empty()
            && app.bytes().all(|b| b.is_ascii_digit())
            && (self.app_ids.is_empty() || self.app_ids.iter().any(|a| a == app))
    }

    /// A short random-looking string of URL-safe characters.
    pub fn random_token(&self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        let seed = self.nonce.fetch_add(1, Ordering::Relaxed)
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        let mut rng = Rng::new(seed);
        (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    pub fn fbtrace_id(&self) -> String {
        format!("A{}", self.random_token(22))
    }

    /// Records that an injected cut or stall closed a connection now, keeping the
    /// newest 10,000 like the request log, so a long-running emulator stays bounded.
    pub fn note_hangup(&self) {
        let mut hangups = lock(&self.hangups);
        if hangups.len() >= 10_000 {
            hangups.drain(..1_000);
        }
        hangups.push(Instant::now());
    }

    /// Creates a session and returns its id.
    pub fn create_session(
        &self,
        app_id: &str,
        file_name: &str,
        file_type: &str,
        file_length: u64,
    ) -> std::io::Result<String> {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        // Real ids are base64 of a descriptor like this one, then `?sig=`.
        let descriptor = format!(
            "{n}:attachment:{}?file_name={file_name}&file_length={file_length}&file_type={file_type}",
            self.random_token(16)
        );
        let id = format!(
            "upload:{}?sig=AR{}",
            base64::engine::general_purpose::STANDARD.encode(descriptor),
            self.random_token(30)
        );
        let (file, path) = match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("session-{n}.bin"));
                (Some(File::create(&path)?), Some(path))
            }
            None => (None, None),
        };
        let hash = !matches!(self.storage, Storage::Discard { hash: false });
        let session = Session {
            id: id.clone(),
            app_id: app_id.to_string(),
            file_name: file_name.to_string(),
            file_type: file_type.to_string(),
            file_length,
            offset: 0,
            hasher: hash.then(Sha256::new),
            sha256: None,
            file,
            path,
            handle: None,
            bytes_received_total: 0,
            bytes_discarded_by_faults: 0,
            upload_requests: 0,
            created: Instant::now(),
            lagging_report: None,
        };
        lock(&self.sessions).insert(id.clone(), Arc::new(Mutex::new(session)));
        Ok(id)
    }

    /// Finds a live session by its full id.
    pub fn session(&self, id: &str) -> Option<Arc<Mutex<Session>>> {
        let s = lock(&self.sessions).get(id).cloned()?;
        let alive = lock(&s).created.elapsed() < self.session_ttl;
        alive.then_some(s)
    }

    /// A handle shaped like Graph's: `4::<base64 mime>:<sig>:e:<expiry>:<app>:<user>:AR...`.
    pub fn make_handle(&self, session: &Session) -> String {
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 30 * 24 * 3600;
        let mime = base64::engine::general_purpose::STANDARD.encode(&session.file_type);
        let one = |i: usize| {
            format!(
                "4::{mime}:AR{}:e:{expiry}:{}:{}:AR{}{i}",
                self.random_token(40),
                session.app_id,
                100_000_000_000_000u64 + (self.nonce.load(Ordering::Relaxed) % 1_000_000),
                self.random_token(24),
            )
        };
        if session.file_type == "video/mp4" {
            // Video handles come several at a time, joined by newlines.
            (0..3).map(one).collect::<Vec<_>>().join("\n")
        } else {
            one(0)
        }
    }

    /// The fault for this request, if any rule or the random mode calls for one.
    pub fn take_fault(
        &self,
        kind: RequestKind,
        session: Option<&str>,
        body_len: u64,
    ) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let pos = rules.iter().position(|r| {
            r.kind == kind
                && r.times != Some(0)
                && r.session.as_deref().is_none_or(|s| Some(s) == session)
        });
        let fault = if let Some(pos) = pos {
            let rule = &mut rules[pos];
            let fault = rule.fault.clone();
            if let Some(t) = &mut rule.times {
                *t -= 1;
                if *t == 0 {
                    rules.remove(pos);
                }
            }
            Some(fault)
        } else {
            let mut random = lock(&self.random);
            random
                .as_mut()
                .and_then(|(rf, rng)| rf.draw(kind, rng, body_len))
        };
        if let Some(f) = &fault {
            self.faults_injected.fetch_add(1, Ordering::Relaxed);
            let mut tally = lock(&self.fault_tally);
            *tally.entry(f.name()).or_insert(0) += 1;
            // Also by the step it struck: "on-create", "on-upload", "on-offset".
            let step = match kind {
                RequestKind::Create => "on-create",
                RequestKind::Upload => "on-upload",
                RequestKind::Offset => "on-offset",
            };
            *tally.entry(step).or_insert(0) += 1;
        }
        fault
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
