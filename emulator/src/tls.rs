//! A private CA and a certificate it signed for 127.0.0.1 and localhost, made at start
//! (`--tls-generate DIR`), so that any client's tests can run HTTPS with a CA file.

use std::io;
use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::TlsFiles;

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir` (made if needed) and
/// returns the server's files.
pub(crate) fn generate(dir: &Path) -> io::Result<TlsFiles> {
    let fail = |e: rcgen::Error| io::Error::other(e.to_string());
    std::fs::create_dir_all(dir)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf whose subject equals its issuer looks self-signed.
    ca.distinguished_name
        .push(DnType::CommonName, "fbup-emulator test CA");
    let ca_key = KeyPair::generate().map_err(fail)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(fail)?;
    let key = KeyPair::generate().map_err(fail)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(fail)?;
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(&files.cert, cert.pem())?;
    std::fs::write(&files.key, key.serialize_pem())?;
    Ok(files)
}
