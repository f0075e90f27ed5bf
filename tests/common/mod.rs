//! Helpers shared by the library's integration tests.

#![allow(dead_code)]

use std::ffi::CString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The deterministic bytes of a test file of `len` bytes (no run of them repeats soon,
/// so a misplaced chunk changes the hash).
pub fn test_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 11) as u8)
        .collect()
}

/// Writes a test file in `dir`; returns its path and SHA-256.
pub fn test_file(dir: &Path, name: &str, len: usize) -> (PathBuf, String) {
    let bytes = test_bytes(len);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    (path, sha256_hex(&bytes))
}

#[path = "skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use skip::{have, require_all, skip};

/// The strings of a C config, kept alive as long as the config that points at them.
pub struct CConfig {
    app: CString,
    token: CString,
    url: CString,
}

impl CConfig {
    pub fn new(app_id: &str, token: &str, graph_url: &str) -> CConfig {
        CConfig {
            app: CString::new(app_id).unwrap(),
            token: CString::new(token).unwrap(),
            url: CString::new(graph_url).unwrap(),
        }
    }

    /// An `fbup_config` with the defaults (`fbup_config_init`) and these strings.
    pub fn config(&self) -> fbup::ffi::fbup_config {
        let mut cfg = std::mem::MaybeUninit::<fbup::ffi::fbup_config>::uninit();
        // SAFETY: fbup_config_init writes the whole struct.
        let mut cfg = unsafe {
            fbup::ffi::fbup_config_init(cfg.as_mut_ptr());
            cfg.assume_init()
        };
        cfg.app_id = self.app.as_ptr();
        cfg.access_token = self.token.as_ptr();
        cfg.graph_url = self.url.as_ptr();
        cfg
    }
}

/// What `c_upload` saw.
pub struct CUpload {
    pub status: fbup::ffi::fbup_status,
    pub message: String,
    pub session_id: String,
    /// The trace, `level: line`, as the C log callback received it.
    pub trace: Vec<String>,
}

/// Trace lines gathered by [`collect_line`].
pub type Lines = std::sync::Mutex<Vec<String>>;

/// A C log callback: appends `level: line` to the [`Lines`] that `user_data` points to.
///
/// # Safety
/// `user_data` points to a live `Lines`; `line` is NUL-terminated.
pub unsafe extern "C" fn collect_line(
    user_data: *mut std::ffi::c_void,
    level: i32,
    line: *const std::ffi::c_char,
) {
    let lines = &*(user_data as *const Lines);
    let line = std::ffi::CStr::from_ptr(line).to_string_lossy();
    lines.lock().unwrap().push(format!("{level}: {line}"));
}

/// Creates a session for `path` with `cfg` and runs `fbup_upload` on it, through the
/// C ABI, gathering the trace (at `cfg.log_level`) through a C log callback. A success
/// must come with a handle.
pub fn c_upload(cfg: &fbup::ffi::fbup_config, path: &Path) -> CUpload {
    use fbup::ffi::*;
    use std::ffi::CStr;
    let file = CString::new(path.to_str().unwrap()).unwrap();
    let mut s = std::ptr::null_mut();
    let lines = Lines::default();
    // SAFETY: a bitwise copy of a struct of plain values and borrowed pointers.
    let mut cfg = unsafe { std::ptr::read(cfg) };
    cfg.log_fn = Some(collect_line);
    cfg.log_user_data = &lines as *const Lines as *mut std::ffi::c_void;
    let cfg = &cfg;
    // SAFETY: cfg, lines and file are valid for the calls; s is released below.
    unsafe {
        let mut status = fbup_create_session(cfg, file.as_ptr(), &mut s);
        if status == FBUP_OK {
            status = fbup_upload(s, None, std::ptr::null_mut());
        }
        let message = CStr::from_ptr(fbup_errmsg(s))
            .to_string_lossy()
            .into_owned();
        let id = fbup_session_id(s);
        let session_id = if id.is_null() {
            String::new()
        } else {
            CStr::from_ptr(id).to_string_lossy().into_owned()
        };
        if status == FBUP_OK {
            assert!(
                !CStr::from_ptr(fbup_file_handle(s)).to_bytes().is_empty(),
                "FBUP_OK comes with a handle"
            );
        }
        fbup_free(s);
        CUpload {
            status,
            message,
            session_id,
            trace: lines.into_inner().unwrap(),
        }
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Distinct names: a leaf whose subject equals its issuer looks self-signed to OpenSSL.
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fbup test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An HTTPS emulator with this certificate.
    pub fn emulator(&self) -> fbup_emulator::Emulator {
        fbup_emulator::Emulator::start(fbup_emulator::Config {
            tls: Some(fbup_emulator::TlsFiles {
                cert: self.path("server.pem"),
                key: self.path("server.key"),
            }),
            ..Default::default()
        })
        .unwrap()
    }
}
