//! What a caller sets up before an upload, with the defaults and the checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{words, Error, Field, Words};
pub use crate::token::TokenRefresh;

/// Graph's address, used when none is given.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";

/// The Graph API version fbup is tested against, used when none is given.
pub const DEFAULT_API_VERSION: &str = "v24.0";

/// The default [`Config::send_buffer`].
pub const DEFAULT_SEND_BUFFER: usize = 64 * 1024;

/// The file types the Resumable Upload API's documentation gives as examples. Graph
/// takes more (Meta's own code uploads TIFF, JSON and CSV): fbup sends any well-formed
/// MIME type and lets Graph decide; these five are only the ones it knows for sure.
pub const FILE_TYPES: [&str; 5] = [
    "application/pdf",
    "image/jpeg",
    "image/jpg",
    "image/png",
    "video/mp4",
];

/// How an upload is set up. Build one with [`Config::new`] and change what you need:
/// fields are added as features land, so a struct literal would not compile.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The app id that owns the upload session (required).
    pub app_id: String,
    /// The user access token; sent only in the `Authorization` header.
    pub access_token: String,
    /// Graph's base URL, [`DEFAULT_GRAPH_URL`] by default.
    pub graph_url: String,
    /// The API version path segment, [`DEFAULT_API_VERSION`] by default.
    pub api_version: String,
    /// The `file_name` sent to Graph; the file's base name when `None`.
    pub file_name: Option<String>,
    /// The `file_type` sent to Graph; guessed from the extension when `None`.
    pub file_type: Option<String>,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// No byte moves for this long (sending or waiting for the answer): the attempt fails.
    pub stall_timeout: Duration,
    /// After the last byte is sent, the answer must begin within this long.
    pub response_timeout: Duration,
    /// Attempts in a row without progress before the upload gives up.
    pub max_attempts: u32,
    /// Time without progress (Graph's offset not advancing) before the upload gives up.
    pub max_retry: Duration,
    /// The first retry waits up to this long (full jitter); each further one doubles it.
    pub retry_base: Duration,
    /// No retry waits longer than this (unless the server asks for longer).
    pub retry_cap: Duration,
    /// Called for a new token when Graph answers code 190 mid-upload.
    pub token_refresh: Option<TokenRefresh>,
    /// Bytes read from the file and written to the socket at a time. 64 KiB measured
    /// fastest here: the buffer stays in the CPU cache between the two copies.
    pub send_buffer: usize,
    /// Extra root certificates (a PEM file) trusted for Graph's TLS certificate, for a
    /// private CA or a TLS-intercepting proxy. Verification is never turned off.
    pub ca_file: Option<PathBuf>,
    /// Accept a plain `http://` Graph URL for a host that is not loopback. Without it,
    /// `http://` is accepted only for 127.0.0.0/8, ::1 and localhost.
    pub allow_insecure_http: bool,
    /// The proxy, e.g. `http://proxy:3128`; `None` reads `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` from the environment.
    pub proxy: Option<String>,
    /// The resume journal's folder; `None` turns the journal off. With it,
    /// [`Session::create`](crate::Session::create) resumes a pending session recorded
    /// for the same file instead of starting over, and [`Session::resume`](crate::Session::resume)
    /// records the session it resumes. The folder must be this user's and writable by no
    /// one else; a journal that cannot be written or read is reported as
    /// [`Event::JournalOff`](crate::Event::JournalOff) and the upload goes on without it.
    pub state_dir: Option<PathBuf>,
    /// The most bytes per second sent to Graph, over any stretch of time (with at most
    /// one [`send_buffer`](Config::send_buffer) above it); 0, the default, is no limit.
    /// A [`Client`](crate::Client)'s is the client's: all the sessions it opens share it.
    pub max_send_rate: u64,
    /// The most body bytes one upload request carries, for a proxy or load balancer
    /// known to cut longer requests; 0, the default, sends the rest of the file in one
    /// request, and bounds requests only when a cut shows that Graph kept none of a
    /// request's bytes.
    pub max_request: u64,
    /// Told of each retry and resume as it happens (see [`Event`](crate::Event)).
    pub on_event: Option<crate::event::EventFn>,
    /// Receives the trace: each HTTP request and answer, each decision and, at
    /// [`Level::Debug`](crate::Level::Debug), connection events. Never holds the token.
    pub log: Option<crate::trace::LogFn>,
    /// The least important lines [`log`](Config::log) receives; [`Level::Info`](crate::Level::Info)
    /// by default.
    pub log_level: crate::trace::Level,
}

impl Config {
    /// A config with the defaults and the two required fields.
    pub fn new(app_id: impl Into<String>, access_token: impl Into<String>) -> Config {
        Config {
            app_id: app_id.into(),
            access_token: access_token.into(),
            graph_url: DEFAULT_GRAPH_URL.into(),
            api_version: DEFAULT_API_VERSION.into(),
            file_name: None,
            file_type: None,
            connect_timeout: Duration::from_millis(30_000),
            stall_timeout: Duration::from_millis(60_000),
            response_timeout: Duration::from_millis(120_000),
            max_attempts: 8,
            max_retry: Duration::from_secs(15 * 60),
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(30),
            token_refresh: None,
            send_buffer: DEFAULT_SEND_BUFFER,
            ca_file: None,
            allow_insecure_http: false,
            proxy: None,
            state_dir: None,
            max_send_rate: 0,
            max_request: 0,
            on_event: None,
            log: None,
            log_level: crate::trace::Level::Info,
        }
    }

    /// Checks what can be checked without the network.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.check_lengths()?;
        self.check_identity()?;
        self.check_graph_url()?;
        let v = self.api_version.as_str();
        let version_ok = v
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        if !version_ok {
            return Err(Error::argument(
                Field::ApiVersion,
                words(Field::ApiVersion)
                    .text(format!(" '{v}' must look like {DEFAULT_API_VERSION}")),
            ));
        }
        if !(4096..=64 * 1024 * 1024).contains(&self.send_buffer) {
            return Err(Error::argument(
                Field::SendBuffer,
                words(Field::SendBuffer).text(format!(
                    " is {} bytes; use 4 KiB to 64 MiB",
                    self.send_buffer
                )),
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::argument(
                Field::MaxAttempts,
                words(Field::MaxAttempts).text(" must be at least 1"),
            ));
        }
        Ok(())
    }

    /// No text is longer than a real one can be.
    fn check_lengths(&self) -> Result<(), Error> {
        for (field, value, max) in [
            (Field::AppId, &self.app_id, 64),
            (Field::AccessToken, &self.access_token, 8192),
            (Field::GraphUrl, &self.graph_url, 2048),
            (Field::ApiVersion, &self.api_version, 16),
        ] {
            if value.len() > max {
                return Err(Error::argument(
                    field,
                    words(field).text(format!(
                        " is {} bytes long, over the {max} a real one needs; check what is passed",
                        value.len()
                    )),
                ));
            }
        }
        if self.file_name.as_ref().is_some_and(|n| n.len() > 1024) {
            return Err(Error::argument(
                Field::FileName,
                words(Field::FileName).text(" is over 1024 bytes; pass a shorter name"),
            ));
        }
        Ok(())
    }

    /// The app id and the token are there and of the shape Graph gives them.
    fn check_identity(&self) -> Result<(), Error> {
        let arg = |f: Field, t: String| Err(Error::argument(f, words(f).text(t)));
        if self.app_id.is_empty() {
            return arg(
                Field::AppId,
                " is required: the numeric id of your Meta app".into(),
            );
        }
        if !self.app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return arg(
                Field::AppId,
                format!(
                    " '{}' is not an app id: give your Meta app's id (its digits) or `app`, \
                     Graph's name for the token's app",
                    self.app_id
                ),
            );
        }
        if self.access_token.is_empty() {
            return arg(Field::AccessToken, " is required".into());
        }
        if !crate::token::well_formed(&self.access_token) {
            // Said before any request: such a token cannot go into a header, and
            // Graph never gives one.
            return arg(
                Field::AccessToken,
                " holds spaces, control characters or characters that are not ASCII; \
                 pass the bare token as Graph gave it"
                    .into(),
            );
        }
        Ok(())
    }

    /// Graph's URL is https://, or http:// where the token cannot leave the machine.
    fn check_graph_url(&self) -> Result<(), Error> {
        let url = &self.graph_url;
        let arg = |w| Err(Error::argument(Field::GraphUrl, w));
        let named = || words(Field::GraphUrl).text(format!(" '{url}'"));
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return arg(named().text(" must start with https:// (or http:// for a local emulator)"));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            if !self.allow_insecure_http && !is_loopback(host_of(rest)) {
                return arg(named()
                    .text(
                        " is plain http:// to a host that is not loopback: the token would \
                             travel in clear text. Use https://",
                    )
                    .hint(", or set ", Field::AllowInsecureHttp, ""));
            }
        }
        if url.contains(['?', '#', ' ']) {
            return arg(named().text(" must be a bare base URL, without query or fragment"));
        }
        let (_, rest) = url.split_once("://").unwrap_or(("", url));
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            // A password there would be in every trace line and message.
            return arg(words(Field::GraphUrl)
                .text(" must not carry a user or password (user:password@); Graph takes none"));
        }
        let bad_char = |b: u8| b.is_ascii_control() || b == b'\\' || b >= 0x80;
        let host_ok = !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
        if url.bytes().any(bad_char) || !host_ok {
            return arg(named().text(
                " is not a URL fbup can use: a host (letters, digits, '.', '-', a port, an \
                 [IPv6] address), then an optional path, without spaces, control characters \
                 or backslashes",
            ));
        }
        Ok(())
    }
}

/// The `file_type` for a file: `configured`, checked, or one from the extension.
pub(crate) fn file_type_for(configured: Option<&str>, path: &Path) -> Result<String, Error> {
    if let Some(t) = configured {
        return check_file_type(t).map(str::to_string);
    }
    file_type_from_extension(path)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::argument(
                Field::FileType,
                Words::default()
                    .text(format!(
                        "cannot tell the file type of '{}' from its extension; give ",
                        path.display()
                    ))
                    .name(Field::FileType)
                    .text(" (a MIME type such as image/png)"),
            )
        })
}

/// The host of `host[:port][/path]` (IPv6 hosts in brackets).
fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// 127.0.0.0/8, ::1 and localhost: where plain HTTP never leaves the machine.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A URL with any `user:password@` replaced, for messages and logs.
pub(crate) fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://<redacted>@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The MIME type for a file's extension (any case), from a well-kept table: `.jpg`
/// `image/jpeg`, `.webp` `image/webp`, `.mov` `video/quicktime`, `.csv` `text/csv`...;
/// `None` when the extension is unknown or missing.
pub fn file_type_from_extension(path: &Path) -> Option<&'static str> {
    // The shared table of the `mime_guess` crate (the web's usual types, by extension):
    // .webp, .tiff, .heic, .mov, .mp3, .csv, .json, .docx and the rest, case-blind.
    mime_guess::from_ext(path.extension()?.to_str()?).first_raw()
}

/// Accepts any well-formed MIME type (RFC 6838: `type/subtype` of its name characters,
/// no parameters, at most 255 bytes): whether Graph takes it is Graph's to say.
pub(crate) fn check_file_type(t: &str) -> Result<&str, Error> {
    let name = |s: &str| {
        s.len() <= 127
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let well_formed = t.len() <= 255
        && t.split_once('/')
            .is_some_and(|(ty, sub)| name(ty) && name(sub));
    if well_formed {
        Ok(t)
    } else {
        Err(Error::argument(
            Field::FileType,
            words(Field::FileType).text(format!(
                " '{t}' is not a MIME type: write type/subtype without parameters, e.g. \
                 image/png or video/quicktime"
            )),
        ))
    }
}

/// True for the five types Graph's documentation lists ([`FILE_TYPES`]).
pub(crate) fn documented_type(t: &str) -> bool {
    FILE_TYPES.contains(&t)
}

impl fmt::Debug for Config {
    /// Shows everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_id", &self.app_id)
            .field("access_token", &"<redacted>")
            .field("graph_url", &self.graph_url)
            .field("api_version", &self.api_version)
            .field("file_name", &self.file_name)
            .field("file_type", &self.file_type)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_retry", &self.max_retry)
            .field("retry_base", &self.retry_base)
            .field("retry_cap", &self.retry_cap)
            .field("token_refresh", &self.token_refresh.is_some())
            .field("send_buffer", &self.send_buffer)
            .field("ca_file", &self.ca_file)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("proxy", &self.proxy.as_deref().map(redact_userinfo))
            .field("state_dir", &self.state_dir)
            .field("max_send_rate", &self.max_send_rate)
            .field("max_request", &self.max_request)
            .field("on_event", &self.on_event.is_some())
            .field("log", &self.log.is_some())
            .field("log_level", &self.log_level)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_extensions_or_any_well_formed_one_is_taken() {
        assert_eq!(
            file_type_for(None, Path::new("a/B.JPG")).unwrap(),
            "image/jpeg"
        );
        assert_eq!(
            file_type_for(None, Path::new("x.mp4")).unwrap(),
            "video/mp4"
        );
        assert_eq!(
            file_type_for(None, Path::new("x.gif")).unwrap(),
            "image/gif"
        );
        let e = file_type_for(None, Path::new("x.unknownext")).unwrap_err();
        assert_eq!(e.status, crate::Status::Argument);
        assert_eq!(
            file_type_for(Some("image/x-custom+v1"), Path::new("x.png")).unwrap(),
            "image/x-custom+v1"
        );
        let e = file_type_for(Some("image/gif; q=1"), Path::new("x.png")).unwrap_err();
        assert!(e.message.contains("is not a MIME type"), "{}", e.message);
    }

    #[test]
    fn debug_hides_the_token_and_proxy_passwords() {
        let mut c = Config::new("1", "EAAsecret");
        c.proxy = Some("http://user:pa55@proxy:3128".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("EAAsecret") && !shown.contains("pa55"),
            "{shown}"
        );
        assert!(shown.contains("proxy:3128"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = Config::new("", "t");
        assert!(c.validate().unwrap_err().message.contains("app_id"));
        c.app_id = "12".into();
        c.graph_url = "ftp://x".into();
        assert!(c.validate().unwrap_err().message.contains("graph_url"));
        c.graph_url = "http://graph.example:80".into();
        assert!(c.validate().unwrap_err().message.contains("clear text"));
        c.allow_insecure_http = true;
        assert!(c.validate().is_ok());
        c.allow_insecure_http = false;
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost:8080/",
            "http://[::1]:9",
            "http://127.9.9.9",
        ] {
            c.graph_url = ok.into();
            assert!(c.validate().is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.invalid\\@127.0.0.1:9",
            "http://user:s3cr3t@127.0.0.1:9",
            "http://127.0.0.1:9/a\r\nX: y",
            "http://127.0.0.1:9/\tx",
            "https://",
        ] {
            c.graph_url = bad.into();
            let e = c.validate().unwrap_err();
            assert_eq!(e.field, Some(Field::GraphUrl), "{bad:?}: {}", e.message);
            assert!(!e.message.contains("s3cr3t"), "{bad:?}: {}", e.message);
        }
        c.graph_url = "http://127.0.0.1:1".into();
        c.api_version = "24".into();
        assert!(c.validate().unwrap_err().message.contains("api_version"));
        c.api_version = "v24.0".into();
        assert!(c.validate().is_ok());
    }
}
